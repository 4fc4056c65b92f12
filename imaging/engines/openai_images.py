"""OpenAI's Images API, on api.openai.com or on Azure OpenAI: one adapter, two addresses.

Generations are `POST .../images/generations` (JSON, `b64_json` output); edits of a
picked picture are `POST .../images/edits` (multipart; a masked edit adds `mask`, a PNG
whose transparent pixels are the ones to redraw). What differs per model is in
`MODELS`: dall-e-3 makes one image per call, so n images are n concurrent calls; each
model makes a few fixed sizes (the tool rounds to the nearest and says so). A returned
`revised_prompt` becomes the prompt shown to the user. Errors follow the documented
`{"error": {"code", "message"}}` body: a content-policy code is a refusal naming the
provider, a 429 is retried (bounded, honouring `Retry-After`), timeouts and 5xx are a
clear error. The key travels in a header only; it is never logged.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from PIL import Image

from imaging.engine import (
    ContentRefused,
    EngineBusy,
    EngineCapabilities,
    GenerationError,
    ImageRequest,
    ImageResult,
    StepCallback,
)
from imaging.engines.codecs import alpha_mask_png, decode_picture, png_bytes
from imaging.engines.remote import RemoteEngine

log = logging.getLogger(__name__)

Headers = Callable[[], Awaitable[dict[str, str]]]
Sleep = Callable[[float], Awaitable[None]]

POLICY_CODES = frozenset({"content_policy_violation", "moderation_blocked", "contentFilter",
                          "content_filter", "ResponsibleAIPolicyViolation"})
MAX_RETRY_WAIT_S = 30.0  # a longer Retry-After is the user's to wait, not a held job's
MAX_IMAGES = 10  # the API's own limit for n


@dataclass(frozen=True, slots=True)
class ModelLimits:
    sizes: tuple[tuple[int, int], ...]
    max_n: int  # per call
    edits: bool
    response_format: bool  # dall-e models take response_format; gpt-image ones reject it
    masks: bool = True  # edits with a mask: inpainting, outpainting on a padded canvas


_GPT_IMAGE = ModelLimits(((1024, 1024), (1536, 1024), (1024, 1536)), 10, True, False)
MODELS: dict[str, ModelLimits] = {
    "dall-e-3": ModelLimits(((1024, 1024), (1792, 1024), (1024, 1792)), 1, False, True,
                            masks=False),
    # dall-e-2 edits need a mask or transparent pixels, which a finished picture lacks:
    # masked edits only.
    "dall-e-2": ModelLimits(((256, 256), (512, 512), (1024, 1024)), 10, False, True),
    "gpt-image-1": _GPT_IMAGE,
    "gpt-image-1-mini": _GPT_IMAGE,
}


def limits_for(model: str, overrides: dict[str, Any]) -> ModelLimits:
    """The known model's limits (an unknown one is treated like gpt-image-1), with the
    engines file's `sizes`, `max_n` and `edits` taking precedence."""
    base = MODELS.get(model.lower(), _GPT_IMAGE)
    sizes = base.sizes
    if overrides.get("sizes"):
        sizes = tuple(tuple(int(v) for v in s.lower().split("x")) for s in overrides["sizes"])  # type: ignore[misc]
    return ModelLimits(sizes, int(overrides.get("max_n", base.max_n)),
                       bool(overrides.get("edits", base.edits)), base.response_format,
                       base.masks)


class OpenAIImagesEngine(RemoteEngine):
    """A remote engine (`agenerate` on the event loop); one job per call."""

    max_batch_images = MAX_IMAGES

    def __init__(self, *, name: str, provider: str, generations_url: str, edits_url: str,
                 headers: Headers, limits: ModelLimits, model: str | None = None,
                 quality: str | None = None, timeout_s: float = 120.0, retries: int = 3,
                 max_concurrency: int = 4, sleep: Sleep = asyncio.sleep) -> None:
        """`model`: sent in the body (api.openai.com); Azure names it by the deployment in
        the URL. `sleep` waits out a 429 (tests pass one that records the waits)."""
        super().__init__(name, model or name, max_concurrency=max_concurrency)
        self.provider = provider
        self.generations_url = generations_url
        self.edits_url = edits_url
        self.headers = headers
        self.limits = limits
        self.model = model
        self.quality = quality
        self.timeout_s = timeout_s
        self.retries = retries
        self.sleep = sleep
        self.default_size = limits.sizes[0]
        # No upscale: the images API has no refine pass at a larger size.
        self.capabilities = EngineCapabilities(
            sizes=limits.sizes, max_n=MAX_IMAGES, edits=limits.edits, negative_prompt=False,
            seeds=False, previews=False, steps=False, inpaint=limits.masks,
            outpaint=limits.masks, upscale=False)

    async def agenerate(self, reqs: list[ImageRequest], on_step: StepCallback | None = None
                        ) -> list[ImageResult]:
        return [await self._one(req) for req in reqs]

    async def _one(self, req: ImageRequest) -> ImageResult:
        if (req.width, req.height) not in self.limits.sizes:
            raise GenerationError(f"{self.name} makes {self.capabilities.describe_sizes()}, "
                                  f"not {req.width}x{req.height}")
        if req.is_masked and not self.limits.masks:
            raise GenerationError(f"{self.name} cannot redraw part of a picture")
        if req.is_edit and not req.is_masked and not self.limits.edits:
            raise GenerationError(f"{self.name} cannot edit pictures")
        chunks = [min(self.limits.max_n, req.n - i) for i in range(0, req.n, self.limits.max_n)]
        png = await asyncio.to_thread(png_bytes, req.init_image) if req.init_image else None
        mask = await asyncio.to_thread(alpha_mask_png, req.mask) if req.mask else None
        answers = await asyncio.gather(*(self._call(req, k, png, mask) for k in chunks))
        items = [item for answer in answers for item in answer]
        images = await asyncio.to_thread(_decode_all, items, self.name)
        revised = next((i.get("revised_prompt") for i in items if i.get("revised_prompt")), None)
        return ImageResult(req, images[:req.n], [req.seed] * min(req.n, len(images)),
                           revised_prompt=revised)

    async def _call(self, req: ImageRequest, n: int, png: bytes | None,
                    mask: bytes | None = None) -> list[dict[str, Any]]:
        size = f"{req.width}x{req.height}"
        for attempt in range(self.retries + 1):
            if png is None:
                body: Any = {"prompt": req.prompt, "n": n, "size": size}
                if self.model:
                    body["model"] = self.model
                if self.limits.response_format:
                    body["response_format"] = "b64_json"
                if self.quality:
                    body["quality"] = self.quality
                status, headers, data = await self._post(self.generations_url, json_body=body)
            else:
                form = self._edit_form(req, n, size, png, mask)
                status, headers, data = await self._post(self.edits_url, form=form)
            if status == 200:
                return _items(data, self.name)
            error = _error(data)
            if status == 429 and error.get("code") != "insufficient_quota":
                wait = _retry_after(headers, attempt)
                if attempt < self.retries and wait <= MAX_RETRY_WAIT_S:
                    log.info("%s: rate limited (429); retrying in %.1f s", self.name, wait)
                    await self.sleep(wait)
                    continue
                raise EngineBusy(f"{self.name} is busy right now (rate limited)", wait)
            raise self._failure(status, error)
        raise AssertionError("unreachable")

    def _edit_form(self, req: ImageRequest, n: int, size: str, png: bytes,
                   mask: bytes | None) -> aiohttp.FormData:
        form = aiohttp.FormData()
        form.add_field("image", png, filename="image.png", content_type="image/png")
        if mask is not None:
            form.add_field("mask", mask, filename="mask.png", content_type="image/png")
        form.add_field("prompt", req.prompt)
        form.add_field("n", str(n))
        form.add_field("size", size)
        if self.model:
            form.add_field("model", self.model)
        if self.limits.response_format:
            form.add_field("response_format", "b64_json")
        return form

    async def _post(self, url: str, *, json_body: Any = None, form: aiohttp.FormData | None = None
                    ) -> tuple[int, Any, Any]:
        headers = await self.headers()
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with self._slots, self.session.post(
                    url, json=json_body, data=form, headers=headers, timeout=timeout) as resp:
                raw = await resp.read()
                return resp.status, resp.headers, _json(raw)
        except TimeoutError:
            raise GenerationError(f"{self.name} did not answer within "
                                  f"{self.timeout_s:.0f} s") from None
        except aiohttp.ClientError as exc:
            raise GenerationError(f"I could not reach {self.name} "
                                  f"({type(exc).__name__})") from exc

    def _failure(self, status: int, error: dict[str, Any]) -> GenerationError:
        code = str(error.get("code") or "")
        inner = error.get("inner_error") or error.get("innererror") or {}
        inner_code = str(inner.get("code") or "") if isinstance(inner, dict) else ""
        message = str(error.get("message") or "")[:300]
        if code in POLICY_CODES or inner_code in POLICY_CODES:
            log.info("%s: content policy refusal (%s): %s", self.name, code or inner_code,
                     message)
            return ContentRefused(self.provider, message)
        log.warning("%s answered HTTP %d (%s): %s", self.name, status, code, message)
        if status in (401, 403):
            return GenerationError(f"{self.name} did not accept easel's credentials "
                                   f"(HTTP {status}); the operator must check its key")
        if status == 429:
            return GenerationError(f"{self.name}'s account is out of quota")
        if status >= 500:
            return GenerationError(f"{self.name} had a server error (HTTP {status})")
        return GenerationError(f"{self.name} rejected the request: "
                               f"{message or f'HTTP {status}'}")


def _retry_after(headers: Any, attempt: int) -> float:
    """Seconds to wait: the server's `Retry-After` (or `retry-after-ms`), else 1, 2, 4 s."""
    for name, scale in (("retry-after-ms", 0.001), ("Retry-After", 1.0)):
        value = headers.get(name) if headers is not None else None
        if value is not None:
            try:
                return max(0.0, float(value) * scale)
            except ValueError:
                continue  # an HTTP date: fall back to backoff
    return float(2 ** attempt)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _error(data: Any) -> dict[str, Any]:
    err = data.get("error") if isinstance(data, dict) else None
    return err if isinstance(err, dict) else {}


def _items(data: Any, name: str) -> list[dict[str, Any]]:
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) and i.get("b64_json")
                                              for i in items):
        raise GenerationError(f"{name} sent an answer easel cannot read")
    return items


def _decode_all(items: list[dict[str, Any]], name: str) -> list[Image.Image]:
    try:
        return [decode_picture(base64.b64decode(item["b64_json"]), name) for item in items]
    except ValueError as exc:  # not base64
        raise GenerationError(f"{name} sent a picture easel cannot read") from exc
