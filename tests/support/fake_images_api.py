"""A loopback OpenAI Images API, on both of its addresses: api.openai.com's
(`/v1/images/generations`, `/v1/images/edits`, Bearer key) and Azure OpenAI's
(`/openai/deployments/{d}/images/...?api-version=`, `api-key` header or Entra Bearer).

It answers with the documented shapes: `{"created", "data": [{"b64_json",
"revised_prompt"?}]}`, errors as `{"error": {"code", "message", "type", "param"}}`, and
enforces what the real service enforces where easel must adapt: dall-e-3 takes n=1 only
and three sizes; gpt-image models reject `response_format`; an edit's `mask` must be a
PNG with an alpha channel, the size of `image` (its fully transparent pixels are the ones
to edit), and dall-e-3 takes no edits. Tests script failures (`fail`) and holds (`hold`),
and read every request back (`calls`, with the decoded mask).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image

SIZES = {
    "dall-e-3": {"1024x1024", "1792x1024", "1024x1792"},
    "dall-e-2": {"256x256", "512x512", "1024x1024"},
    "gpt-image-1": {"1024x1024", "1536x1024", "1024x1536", "auto"},
}
KEY = "sk-test-0123456789abcdef"
AZURE_KEY = "azure-test-key-0123456789"


@dataclass
class Call:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    mask: Image.Image | None = None  # an edit's mask, decoded (RGBA)


@dataclass
class Failure:
    status: int
    error: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeImagesAPI:
    url: str = ""
    latency_s: float = 0.0  # a fixed service time per call (the bench)
    textured: bool = False  # photo-like pictures (the bench), not flat colours
    calls: list[Call] = field(default_factory=list)
    fail: list[Failure] = field(default_factory=list)  # the next calls answer these first
    hold: asyncio.Event | None = None  # when set: calls wait for it (timeouts, concurrency)
    in_flight: int = 0
    peak: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/v1/images/generations", self._generations)
        app.router.add_post("/v1/images/edits", self._edits)
        app.router.add_post("/openai/deployments/{dep}/images/generations", self._generations)
        app.router.add_post("/openai/deployments/{dep}/images/edits", self._edits)
        return app

    # ---- handlers --------------------------------------------------------------------
    async def _generations(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "invalid_request_error", "We could not parse the JSON body.")
        return await self._serve(request, body, {})

    async def _edits(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        async for part in await request.multipart():
            data = await part.read()
            if part.filename:
                files[part.name] = bytes(data)
            else:
                body[part.name] = data.decode()
        if "image" not in files:
            return _error(400, "invalid_request_error", "'image' is a required property")
        body["n"] = int(body.get("n", 1))
        mask = None
        if "mask" in files:
            mask = _mask(files["image"], files["mask"])
            if isinstance(mask, web.Response):
                return mask
        model = body.get("model") or request.match_info.get("dep", "")
        if model == "dall-e-3":
            return _error(400, "invalid_request_error",
                          "Invalid model dall-e-3. The model must be one of dall-e-2, "
                          "gpt-image-1.", param="model")
        return await self._serve(request, body, files, mask)

    async def _serve(self, request: web.Request, body: dict[str, Any],
                     files: dict[str, bytes], mask: Image.Image | None = None) -> web.Response:
        call = Call(request.path, dict(request.query), dict(request.headers), body, files, mask)
        self.calls.append(call)
        self.arrived.set()
        denied = self._auth(request)
        if denied is not None:
            return denied
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.hold is not None:
                await self.hold.wait()
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            if self.fail:
                f = self.fail.pop(0)
                return web.json_response({"error": f.error or {"code": None,
                                                               "message": "The server had an error"
                                                               " while processing your request."}},
                                         status=f.status, headers=f.headers)
            return self._answer(request, body)
        finally:
            self.in_flight -= 1

    def _auth(self, request: web.Request) -> web.Response | None:
        if request.path.startswith("/openai/"):
            if "api-version" not in request.query:
                return _error(404, "404", "Resource not found")
            if request.headers.get("api-key") == AZURE_KEY or \
                    request.headers.get("Authorization") == "Bearer entra-token":
                return None
            return _error(401, "401", "Access denied due to invalid subscription key.")
        if request.headers.get("Authorization") != f"Bearer {KEY}":
            return _error(401, "invalid_api_key", "Incorrect API key provided.")
        return None

    def _answer(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        model = body.get("model") or request.match_info.get("dep", "")
        n, size = int(body.get("n", 1)), str(body.get("size", "1024x1024"))
        if model == "dall-e-3" and n != 1:
            return _error(400, "invalid_request_error",
                          "You must provide n=1 for this model.", param="n")
        if size not in SIZES.get(model, SIZES["gpt-image-1"]):
            return _error(400, "invalid_request_error", f"Invalid value: '{size}'.", param="size")
        if model.startswith("gpt-image") and "response_format" in body:
            return _error(400, "invalid_request_error",
                          "Unknown parameter: 'response_format'.", param="response_format")
        w, h = (1024, 1024) if size == "auto" else map(int, size.split("x"))
        data = []
        for i in range(n):
            item: dict[str, Any] = {"b64_json": _png(w, h, str(body.get("prompt")) + str(i),
                                                     self.textured)}
            if model == "dall-e-3":
                item["revised_prompt"] = f"A detailed rendering of {body.get('prompt')}"
            data.append(item)
        return web.json_response({"created": int(time.time()), "data": data})


def policy_violation(code: str = "content_policy_violation") -> Failure:
    return Failure(400, {"code": code, "type": "invalid_request_error", "param": None,
                         "message": "Your request was rejected as a result of our safety system."})


def azure_content_filter() -> Failure:
    return Failure(400, {"code": "content_policy_violation",
                         "message": "Your request was rejected as a result of our safety system.",
                         "inner_error": {"code": "ResponsibleAIPolicyViolation",
                                         "content_filter_results": {
                                             "sexual": {"filtered": True, "severity": "high"}}}})


def rate_limited(retry_after: str = "2") -> Failure:
    return Failure(429, {"code": "rate_limit_exceeded", "type": "requests",
                         "message": "Rate limit reached for images per minute."},
                   headers={"Retry-After": retry_after})


def _mask(image_png: bytes, mask_png: bytes) -> Image.Image | web.Response:
    """The edit's mask as the service checks it, or its 400 answer."""
    try:
        image, mask = (Image.open(io.BytesIO(b)) for b in (image_png, mask_png))
        image.load()
        mask.load()
    except OSError:
        return _error(400, "invalid_image_format", "Invalid image file or mode for image "
                      "'mask', please check your image file.", param="mask")
    if mask.format != "PNG" or mask.mode not in ("RGBA", "LA"):
        return _error(400, "invalid_image_format", f"Invalid input image - format must be in "
                      f"['RGBA', 'LA'], got {mask.mode}.", param="mask")
    if mask.size != image.size:
        return _error(400, "invalid_request_error", "Invalid mask image - mask and image must "
                      "have the same dimensions.", param="mask")
    return mask.convert("RGBA")


def _error(status: int, code: str, message: str, param: str | None = None) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message,
                                        "type": "invalid_request_error", "param": param}},
                             status=status)


@functools.lru_cache(maxsize=256)
def _png(w: int, h: int, seed: str, textured: bool = False) -> str:
    """A picture whose colour follows the prompt (textured: with photo-like grain, so it
    weighs what a real answer weighs); cached, so the fake's own work stays out of what
    the bench measures."""
    colour = tuple(b % 200 + 30 for b in seed.encode()[-3:].rjust(3, b"x"))
    img = Image.new("RGB", (w, h), colour)  # type: ignore[arg-type]
    if textured:
        grain = Image.effect_noise((w, h), 24).convert("RGB")
        img = Image.blend(img, grain, 0.35)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


@asynccontextmanager
async def images_api(**options: Any) -> AsyncIterator[FakeImagesAPI]:
    fake = FakeImagesAPI(**options)
    server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        if fake.hold is not None:
            fake.hold.set()
        await server.close()
