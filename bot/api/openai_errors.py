"""The OpenAI API's error shape, and what each of easel's failures becomes in it.

`{"error": {"message", "type", "param", "code"}}`: 400 names the bad `param`, 401 is
`invalid_api_key`, 404 `model_not_found`, 400 `moderation_blocked` when a safety
checkpoint refuses (with OpenAI's `moderation_details`), 413 for a body over the limit,
429 with `Retry-After` from the quotas; 5xx only for real faults (an engine that broke,
storage that is away).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from aiohttp import web

from bot.errors import EaselError
from bot.state.storage import OUTAGES
from imaging.engine import ContentRefused, EngineBusy, GenerationError
from imaging.jobs import JobCancelled, QuotaExceeded
from tools.base import ToolArgsError, ToolError
from tools.keep import StorageGaveUp

log = logging.getLogger(__name__)

INVALID = "invalid_request_error"


class ApiError(EaselError):
    """Raised anywhere in a request; answered in the API's own shape."""

    def __init__(self, status: int, message: str, *, type: str = INVALID,
                 param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}
        self.extra = extra or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code, **self.extra}}

    def response(self) -> web.Response:
        return web.json_response(self.body(), status=self.status, headers=self.headers)


def bad_param(param: str | None, message: str, code: str = "invalid_value") -> ApiError:
    return ApiError(400, message, param=param, code=code)


def invalid_key(presented: bool) -> ApiError:
    message = ("Incorrect API key provided. Make one with `easel keys create NAME`."
               if presented else
               "You didn't provide an API key: send it as `Authorization: Bearer KEY`.")
    return ApiError(401, message, code="invalid_api_key",
                    headers={"WWW-Authenticate": 'Bearer realm="easel"'})


def model_not_found(name: str) -> ApiError:
    return ApiError(404, f"The model `{name}` does not exist: GET /v1/models lists this "
                         "server's engines.", param="model", code="model_not_found")


def moderation_blocked(message: str, stage: str, categories: list[str]) -> ApiError:
    """A safety checkpoint refused: `stage` is OpenAI's `input` (the prompt, the pictures
    sent) or `output` (every picture made was withheld)."""
    return ApiError(400, message, type="image_generation_user_error", code="moderation_blocked",
                    extra={"moderation_details": {"moderation_stage": stage,
                                                  "categories": categories}})


def too_large(limit_bytes: int) -> ApiError:
    return ApiError(413, f"The request body is larger than this server takes "
                         f"({limit_bytes // (1024 * 1024)} MB).", code="request_too_large")


def rate_limited(message: str, retry_after_s: float) -> ApiError:
    wait = max(1, math.ceil(retry_after_s))
    return ApiError(429, message, type="requests", code="rate_limit_exceeded",
                    headers={"Retry-After": str(wait)})


def unavailable(message: str, retry_after_s: float = 5) -> ApiError:
    return ApiError(503, message, type="server_error", code="service_unavailable",
                    headers={"Retry-After": str(max(1, math.ceil(retry_after_s)))})


def server_error(message: str) -> ApiError:
    return ApiError(500, message, type="server_error", code="server_error")


def from_exception(exc: BaseException) -> ApiError:
    """What a failure below the API (tools, jobs, engines, stores) answers."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, QuotaExceeded):
        return rate_limited(str(exc), exc.retry_after_s)
    if isinstance(exc, ToolArgsError):
        return bad_param(None, str(exc))
    if isinstance(exc, ToolError):
        return bad_param(None, str(exc))
    if isinstance(exc, ContentRefused):
        return moderation_blocked(f"{exc.provider}'s content policy declined this request.",
                                  "input", [])
    if isinstance(exc, EngineBusy):
        return unavailable(f"The image engine is busy: {exc}.", exc.retry_after_s or 30)
    if isinstance(exc, JobCancelled):
        return unavailable("The job was cancelled before it finished (the server may be "
                           "shutting down).")
    if isinstance(exc, (StorageGaveUp, *OUTAGES)):
        return unavailable("Storage is temporarily unavailable; please try again in a minute.")
    if isinstance(exc, GenerationError):
        return server_error(f"The image could not be made: {exc}.")
    log.error("API request failed", exc_info=exc)
    return server_error("The server had an error while processing your request.")
