"""A small Discord REST client: interaction webhooks and command registration.

Only what easel needs: edit/delete the original interaction response, post follow-ups
(JSON or multipart with files), and bulk-overwrite application commands. Every call is
retried on 429 (honouring `retry_after`) and 5xx with backoff, and interaction calls never
use a token past its 15-minute life. Interaction tokens are secrets that sit in the URL,
so paths are redacted before they reach a log line or an exception message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.errors import EaselError

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://discord.com/api/v10"
USER_AGENT = "DiscordBot (https://discord.com/developers/docs, easel 0.1)"
TOKEN_LIFETIME_S = 15 * 60
# Stop using a token a little early: a request that starts at 14:59 may land after 15:00.
TOKEN_MARGIN_S = 20.0
_TOKEN_IN_PATH = re.compile(r"(/webhooks/\d+/)[^/?]+")


class DiscordError(EaselError):
    """Root of the Discord client's errors."""


class DiscordHTTPError(DiscordError):
    def __init__(self, status: int, method: str, path: str, body: Any) -> None:
        self.status = status
        self.code = body.get("code") if isinstance(body, dict) else None
        detail = body.get("message") if isinstance(body, dict) else str(body)[:200]
        if isinstance(body, dict) and body.get("errors"):
            detail = f"{detail}: {json.dumps(body['errors'])[:300]}"
        super().__init__(f"{method} {redact(path)} -> HTTP {status} {detail}")


class InteractionExpired(DiscordError):
    """The interaction token is (about to be) older than Discord accepts."""


def redact(path: str) -> str:
    return _TOKEN_IN_PATH.sub(r"\1<token>", path)


@dataclass(frozen=True, slots=True)
class InteractionToken:
    application_id: str
    token: str
    received: float  # time.monotonic() when the interaction arrived

    def remaining(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        return self.received + TOKEN_LIFETIME_S - TOKEN_MARGIN_S - now

    @property
    def deadline(self) -> float:
        return self.received + TOKEN_LIFETIME_S - TOKEN_MARGIN_S

    @property
    def webhook(self) -> str:
        return f"/webhooks/{self.application_id}/{self.token}"


@dataclass(frozen=True, slots=True)
class FileUpload:
    filename: str
    data: bytes
    content_type: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 60.0  # a rate limit asking for longer than this is not waited out


Sleep = Callable[[float], Awaitable[None]]


class DiscordAPI:
    def __init__(self, session: aiohttp.ClientSession, base_url: str = DEFAULT_API_BASE, *,
                 bot_token: str | None = None, retry: RetryPolicy | None = None,
                 sleep: Sleep = asyncio.sleep) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.bot_token = bot_token
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    # ---- interaction webhooks ----------------------------------------------------------
    async def edit_original(self, token: InteractionToken, payload: dict[str, Any],
                            files: Sequence[FileUpload] = (), *,
                            attempts: int | None = None) -> dict[str, Any]:
        return await self._interaction("PATCH", token, "/messages/@original", payload, files,
                                       attempts)

    async def create_followup(self, token: InteractionToken, payload: dict[str, Any],
                              files: Sequence[FileUpload] = ()) -> dict[str, Any]:
        return await self._interaction("POST", token, "", payload, files, None)

    async def delete_original(self, token: InteractionToken) -> None:
        await self._interaction("DELETE", token, "/messages/@original", None, (), None)

    async def _interaction(self, method: str, token: InteractionToken, suffix: str,
                           payload: dict[str, Any] | None, files: Sequence[FileUpload],
                           attempts: int | None) -> Any:
        if token.remaining() <= 0:
            raise InteractionExpired("the interaction token is older than 15 minutes")
        return await self.request(method, token.webhook + suffix, payload=payload, files=files,
                                  attempts=attempts, deadline=token.deadline)

    # ---- application commands ----------------------------------------------------------
    async def put_commands(self, application_id: str, commands: list[dict[str, Any]],
                           guild_id: str | None = None) -> list[dict[str, Any]]:
        path = f"/applications/{application_id}"
        path += f"/guilds/{guild_id}/commands" if guild_id else "/commands"
        return await self.request("PUT", path, payload=commands, auth=True)

    # ---- transport -------------------------------------------------------------------------
    async def request(self, method: str, path: str, *, payload: Any = None,
                      files: Sequence[FileUpload] = (), auth: bool = False,
                      attempts: int | None = None, deadline: float | None = None) -> Any:
        attempts = attempts or self.retry.attempts
        headers = {"User-Agent": USER_AGENT}
        if auth:
            if not self.bot_token:
                raise DiscordError("a bot token is needed for this request")
            headers["Authorization"] = f"Bot {self.bot_token}"
        url = self.base_url + path
        for attempt in range(1, attempts + 1):
            try:
                # A FormData can be sent once only: build the body anew for every attempt.
                async with self.session.request(method, url, headers=headers,
                                                **_body(payload, files)) as resp:
                    body = await _read(resp)
                    if resp.status < 300:
                        return body
                    delay = self._delay(resp, body, attempt)
                    error: DiscordError = DiscordHTTPError(resp.status, method, path, body)
            except aiohttp.ClientConnectorError as exc:
                delay, error = self._backoff(attempt), _transport_error(method, path, exc)
            except (aiohttp.ClientError, TimeoutError) as exc:
                error = _transport_error(method, path, exc)
                # The request may have reached Discord: only repeat what is idempotent,
                # a repeated POST would post the message twice.
                delay = self._backoff(attempt) if method != "POST" else None
            if delay is None or attempt == attempts:
                raise error
            if deadline is not None and time.monotonic() + delay >= deadline:
                raise InteractionExpired(f"{error}; the token expires before a retry")
            log.warning("%s; retrying in %.2f s (attempt %d/%d)", error, delay, attempt, attempts)
            await self._sleep(delay)
        raise AssertionError("unreachable")

    def _backoff(self, attempt: int) -> float:
        return self.retry.base_delay_s * 2 ** (attempt - 1) * (1 + random.random() / 4)

    def _delay(self, resp: aiohttp.ClientResponse, body: Any, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None when retrying cannot help."""
        if resp.status == 429:
            after = body.get("retry_after") if isinstance(body, dict) else None
            if after is None:  # e.g. a Cloudflare ban page: only the header says how long
                after = resp.headers.get("Retry-After", "1")
            try:
                seconds = float(after)
            except ValueError:
                seconds = 1.0
            return seconds if seconds <= self.retry.max_delay_s else None
        if resp.status >= 500:
            return self._backoff(attempt)
        return None


def _transport_error(method: str, path: str, exc: BaseException) -> DiscordError:
    # Some aiohttp errors quote the URL, and with it the interaction token.
    return DiscordError(redact(f"{method} {path}: {type(exc).__name__} {exc}"))


def _body(payload: Any, files: Sequence[FileUpload]) -> dict[str, Any]:
    if not files:
        return {} if payload is None else {"json": payload}
    payload = dict(payload or {})
    payload.setdefault("attachments", [
        {"id": i, "filename": f.filename, **({"description": f.description} if f.description else {})}
        for i, f in enumerate(files)])
    form = aiohttp.FormData()
    form.add_field("payload_json", json.dumps(payload), content_type="application/json")
    for i, f in enumerate(files):
        form.add_field(f"files[{i}]", f.data, filename=f.filename, content_type=f.content_type)
    return {"data": form}


async def _read(resp: aiohttp.ClientResponse) -> Any:
    if resp.status == 204:
        return None
    text = await resp.text()
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text
