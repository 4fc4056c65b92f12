"""The OpenAI Images API at /v1, as the official SDKs and the apps built on them call it.

`POST /v1/images/generations` (JSON), `POST /v1/images/edits` and `/v1/images/variations`
(multipart), `GET /v1/models` and `/v1/models/{model}` (the engines). Every route needs a
key (`Authorization: Bearer KEY`, or an `api-key` header as Azure-style clients send it):
the key is the user (bot/api/openai_images.py). Errors are the API's own shape
(bot/api/openai_errors.py). With `stream: true` the answer is server-sent events, as the
SDKs read them: `image_generation.partial_image` (edits: `image_edit.partial_image`) for
up to `partial_images` of easel's live previews, then one `*.completed` per picture; a
failure after the stream began is an `error` event. A client that goes away cancels its
job. Requests are counted in /metrics by API, endpoint, key and status.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.api.openai_errors import ApiError, bad_param, from_exception, invalid_key
from bot.api.openai_forms import Form, read_form, read_json
from bot.api.openai_images import Drawn, OpenAIImages
from bot.api.openai_inputs import MAX_PICTURES, MaskError, Picture, open_mask, open_picture
from bot.api.openai_output import OutputOptions, answer, entries, preview_b64
from bot.api.openai_params import EditParams, GenerationParams, VariationParams, parse
from bot.state.keys import ApiKey
from imaging.jobs import EventSink, JobEvent, JobProgress, JobQueued
from imaging.uploads import UploadError

log = logging.getLogger(__name__)

API = "openai"
STARTED = "easel_api_started"  # the request's start, for its Server-Timing header
ImagesGetter = Callable[[web.Application], OpenAIImages]
Work = Callable[[OpenAIImages, ApiKey], Awaitable[web.StreamResponse]]


def presented_key(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("api-key") or None


class Sse:
    """A server-sent-events answer, begun on its first event (an error before that is
    still an ordinary JSON answer with its status)."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response: web.StreamResponse | None = None
        self.gone = False

    async def _write(self, text: str) -> bool:
        if self.gone:
            return False
        try:
            if self.response is None:
                self.response = web.StreamResponse(headers={
                    "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                    "X-Accel-Buffering": "no"})
                await self.response.prepare(self.request)
            await self.response.write(text.encode())
            return True
        except (ConnectionError, RuntimeError):
            self.gone = True
            return False

    async def event(self, name: str, data: dict[str, Any]) -> bool:
        return await self._write(f"event: {name}\ndata: {json.dumps(data)}\n\n")

    async def comment(self, text: str) -> bool:
        return await self._write(f": {text}\n\n")


class OpenAIRoutes:
    def __init__(self, get: ImagesGetter) -> None:
        self.get = get
        self.started = int(time.time())

    async def _serve(self, request: web.Request, endpoint: str, work: Work
                     ) -> web.StreamResponse:
        request[STARTED] = time.perf_counter()
        api = self.get(request.app)
        key: ApiKey | None = None
        try:
            presented = presented_key(request)
            key = await api.authorize(presented)
            if key is None:
                raise invalid_key(presented is not None)
            response = await work(api, key)
        except Exception as exc:  # noqa: BLE001 - every failure answers in the API's shape
            response = from_exception(exc).response()
        if api.deps.metrics is not None:
            api.deps.metrics.api_request(API, endpoint, key.name if key else "-",
                                         response.status)
        return response

    def _options(self, request: web.Request, api: OpenAIImages, fmt: str,
                 compression: int | None, response_format: str | None, quality: str,
                 revised: bool) -> OutputOptions:
        base = api.deps.public_url or str(request.url.origin())
        return OutputOptions(fmt, compression, response_format == "url", base, quality,
                             revised)

    async def _answer(self, request: web.Request, api: OpenAIImages, key: ApiKey,
                      drawn: Drawn, options: OutputOptions) -> web.Response:
        data = await entries(api.deps, drawn, options)
        if api.deps.metrics is not None:
            api.deps.metrics.api_images(API, key.name, len(data))
        body = json.dumps(answer(drawn, data, options))
        # What the request cost here, and how much of it the image tool was (the rest is
        # the API's own: the key, the body, the checks before the tool, the answer).
        total_ms = (time.perf_counter() - request[STARTED]) * 1000
        timing = f"tool;dur={drawn.tool_s * 1000:.1f}, total;dur={total_ms:.1f}"
        return web.Response(text=body, content_type="application/json",
                            headers={"Server-Timing": timing})

    # ---- routes ----------------------------------------------------------------------
    async def generations(self, request: web.Request) -> web.StreamResponse:
        async def work(api: OpenAIImages, key: ApiKey) -> web.StreamResponse:
            params = parse(GenerationParams, await read_json(request, api.deps.max_body_bytes))
            options = self._options(request, api, params.format, params.output_compression,
                                    "b64_json" if params.stream else params.response_format,
                                    params.quality_name, params.easel_rewrite)
            if params.stream:
                return await self._stream(request, api, key, "image_generation", options,
                                          params.partial_images or 0, params.size,
                                          lambda sink: api.generate(key, params, sink))
            drawn = await api.generate(key, params)
            return await self._answer(request, api, key, drawn, options)

        return await self._serve(request, "images/generations", work)

    async def edits(self, request: web.Request) -> web.StreamResponse:
        async def work(api: OpenAIImages, key: ApiKey) -> web.StreamResponse:
            form = await read_form(request, api.deps.max_body_bytes)
            _only_files(form, {"image", "image[]", "mask"})
            params = parse(EditParams, form.fields)
            pictures = await _pictures(api, [f.data for f in form.named("image", "image[]")])
            masks = form.named("mask")
            mask = None
            if masks:
                try:
                    mask = await api.deps.decodes.run(open_mask, masks[0].data)
                except MaskError as exc:
                    raise bad_param("mask", str(exc)) from None
                if mask.size != pictures[0].size:
                    raise bad_param("mask", f"The mask is {mask.width}x{mask.height} but the "
                                            f"image is {pictures[0].size[0]}x"
                                            f"{pictures[0].size[1]}; they must be the same size.")
            options = self._options(request, api, params.format, params.output_compression,
                                    "b64_json" if params.stream else params.response_format,
                                    params.quality_name, params.easel_rewrite)
            if params.stream:
                return await self._stream(request, api, key, "image_edit", options,
                                          params.partial_images or 0, params.size,
                                          lambda sink: api.edit(key, params, pictures, mask,
                                                                sink))
            drawn = await api.edit(key, params, pictures, mask)
            return await self._answer(request, api, key, drawn, options)

        return await self._serve(request, "images/edits", work)

    async def variations(self, request: web.Request) -> web.StreamResponse:
        async def work(api: OpenAIImages, key: ApiKey) -> web.StreamResponse:
            form = await read_form(request, api.deps.max_body_bytes)
            _only_files(form, {"image"})
            params = parse(VariationParams, form.fields)
            images = form.named("image")
            if len(images) > 1:
                raise bad_param("image", "A variation takes one image.")
            [picture] = await _pictures(api, [f.data for f in images])
            drawn = await api.vary(key, params.model, params.n, params.size, picture)
            options = self._options(request, api, "png", None, params.response_format,
                                    "medium", False)
            return await self._answer(request, api, key, drawn, options)

        return await self._serve(request, "images/variations", work)

    async def models(self, request: web.Request) -> web.StreamResponse:
        async def work(api: OpenAIImages, key: ApiKey) -> web.StreamResponse:
            return web.json_response({"object": "list", "data": [
                self._model(named.name) for named in api.deps.engines]})

        return await self._serve(request, "models", work)

    async def model(self, request: web.Request) -> web.StreamResponse:
        async def work(api: OpenAIImages, key: ApiKey) -> web.StreamResponse:
            name = request.match_info["model"]
            api.engine(name)  # 404 when there is no such engine
            return web.json_response(self._model(name))

        return await self._serve(request, "models", work)

    def _model(self, name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": self.started, "owned_by": "easel"}

    # ---- streaming -------------------------------------------------------------------
    async def _stream(self, request: web.Request, api: OpenAIImages, key: ApiKey, kind: str,
                      options: OutputOptions, partials: int, size: str | None,
                      run: Callable[[EventSink], Awaitable[Drawn]]) -> web.StreamResponse:
        sse = Sse(request)
        sent = 0
        common = {"background": "opaque", "output_format": options.format,
                  "quality": options.quality}

        async def sink(event: JobEvent) -> None:
            nonlocal sent
            if isinstance(event, JobProgress) and event.preview is not None and sent < partials:
                ok = await sse.event(f"{kind}.partial_image", {
                    "type": f"{kind}.partial_image", "created_at": int(time.time()),
                    "b64_json": await preview_b64(event.preview, options.format),
                    "size": size or "auto", "partial_image_index": sent, **common})
                sent += 1
            elif isinstance(event, JobQueued):
                ok = await sse.comment(f"queued, position {event.position}")
            else:
                ok = await sse.comment(f"step {getattr(event, 'step', 0)}")
            if not ok:  # the client went away: its job stops
                await api.deps.generate.runner.cancel(event.job, user=key.user_id)

        try:
            drawn = await run(sink)
            data = await entries(api.deps, drawn, options)
        except Exception as exc:  # noqa: BLE001 - said in the API's shape, in or before the stream
            error = from_exception(exc)
            if sse.response is None:
                return error.response()
            await sse.event("error", error.body())
            return sse.response
        if api.deps.metrics is not None:
            api.deps.metrics.api_images(API, key.name, len(data))
        for entry in data:
            await sse.event(f"{kind}.completed", {
                "type": f"{kind}.completed", "created_at": int(time.time()),
                "b64_json": entry["b64_json"], "size": f"{drawn.width}x{drawn.height}",
                "usage": answer(drawn, [], options)["usage"], **common})
        if sse.response is None:  # nothing could be written: the client is gone
            return web.Response(status=499)
        if not sse.gone:
            await sse.response.write_eof()
        return sse.response


def _only_files(form: Form, allowed: set[str]) -> None:
    for name in allowed & set(form.fields):
        raise bad_param(name, f"Send '{name}' as a file (a multipart part with a filename).")
    for upload in form.files:
        if upload.field not in allowed:
            raise bad_param(upload.field, f"Unknown parameter: '{upload.field}'.",
                            "unknown_parameter")


async def _pictures(api: OpenAIImages, sent: list[bytes]) -> list[Picture]:
    if not sent:
        raise bad_param("image", "Missing required parameter: 'image'.",
                        "missing_required_parameter")
    if len(sent) > MAX_PICTURES:
        raise bad_param("image", f"At most {MAX_PICTURES} images per request "
                                 f"(this one has {len(sent)}).")
    pictures = []
    for i, data in enumerate(sent, 1):
        try:
            pictures.append(await api.deps.decodes.run(open_picture, data))
        except UploadError as exc:
            which = f" (image {i})" if len(sent) > 1 else ""
            raise bad_param("image", f"{exc}{which}", "invalid_image_format") from None
    return pictures


def add_openai_routes(app: web.Application, get: ImagesGetter) -> None:
    routes = OpenAIRoutes(get)
    app.router.add_post("/v1/images/generations", routes.generations)
    app.router.add_post("/v1/images/edits", routes.edits)
    app.router.add_post("/v1/images/variations", routes.variations)
    app.router.add_get("/v1/models", routes.models)
    app.router.add_get("/v1/models/{model}", routes.model)
    log.info("OpenAI Images API on at /v1")


__all__ = ["ApiError", "OpenAIRoutes", "add_openai_routes", "presented_key"]
