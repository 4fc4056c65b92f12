"""An AUTOMATIC1111-compatible API: `/sdapi/v1/*` for clients that speak only that
(SillyTavern, Open WebUI, LibreChat's Stable Diffusion tool, scripts).

`POST txt2img` and `img2img` run the chat's own tools (bot/api/tool_calls.py: checkpoint
2, the job runner's fair queue and quotas, the engine router, checkpoint 3, provenance,
the store) and answer in A1111's shapes (bot/api/a1111_shapes.py), `images` being the
stored, watermarked and signed PNGs in base64. `img2img` sends its first init image
(checked like a chat upload) through `edit_image`, or with a `mask` (white = redraw;
`inpainting_mask_invert` flips it; the init image's size) through `edit_region` when the
engine can inpaint. `GET sd-models` lists the engines; `POST options
{"sd_model_checkpoint"}` picks the one this key draws with (kept in the conversation
store, so every bot process sees it; `override_settings` picks one for one request).
`GET progress` shows this key's jobs; `POST interrupt` cancels them (SillyTavern sends
it when its user stops a picture).

Authentication is HTTP Basic with an easel API key as the password, as A1111's
`--api-auth` clients send it (the user name is not checked; a bare key without a colon
works too): 401 with `WWW-Authenticate: Basic` otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.api import a1111_shapes as shapes
from bot.api.a1111_shapes import A1111Error
from bot.api.asgi_bridge import BodyTooLarge, read_body
from bot.api.tool_calls import ApiTools, Caller, Refused, UnknownModel, UploadError, sizes_of
from bot.state.conversations import ConversationRecord
from bot.state.storage import OUTAGES
from imaging.engine import ContentRefused, EngineBusy, GenerationError
from imaging.jobs import JobCancelled, QuotaExceeded
from tools.base import ToolArgsError, ToolError, ToolResult
from tools.keep import StorageGaveUp

PREFIX = "/sdapi/v1"
API = "a1111"
IMAGES = web.ResponseKey("easel_images", int)  # pictures an answer carries (/metrics)
Handler = Callable[[web.Request, Caller], Awaitable[web.StreamResponse]]
Route = Callable[[web.Request], Awaitable[web.StreamResponse]]
BLOCKED = "ModerationBlocked"


class A1111Api:
    def __init__(self, api: ApiTools) -> None:
        self.api = api

    def route(self, endpoint: str, handler: Handler) -> Route:
        """`handler` behind the key check, answering failures in A1111's shape."""

        async def serve(request: web.Request) -> web.StreamResponse:
            caller = await self.api.authorize(shapes.basic_password(
                request.headers.get("Authorization", "")))
            try:
                if caller is None:
                    raise A1111Error(401, "Incorrect username or password",
                                     headers={"WWW-Authenticate": 'Basic realm="easel"'})
                response = await handler(request, caller)
            except BodyTooLarge as exc:
                response = _error(A1111Error(413, str(exc)))
            except A1111Error as exc:
                response = _error(exc)
            self.api.count(API, endpoint, caller, response.status, response.get(IMAGES, 0))
            return response

        return serve

    # ---- drawing ---------------------------------------------------------------------
    async def txt2img(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        body = shapes.parse(shapes.Txt2ImgRequest, await self._body(request))
        model = await self._model(caller, body)
        args = {"prompt": body.prompt, "n": body.images(), "size": body.size(),
                "seed": body.seed if body.seed >= 0 else None,
                "negative_prompt": body.negative_prompt or None}
        return await self._answer(body, await self._run(caller, "generate_image", args,
                                                        model, body), model)

    async def img2img(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        body = shapes.parse(shapes.Img2ImgRequest, await self._body(request))
        model = await self._model(caller, body)
        init = shapes.picture_bytes(body.init_images[0], "init_images")
        mask = shapes.picture_bytes(body.mask, "mask") if body.mask else None
        try:
            sizes = await sizes_of(init, *([mask] if mask is not None else []))
        except UploadError as exc:
            raise A1111Error(422, str(exc)) from None
        if mask is not None:
            named = self.api.engines.get(model)
            if named is None or not named.capabilities.inpaint:
                raise A1111Error(422, f"{model} cannot inpaint (redraw a masked part); "
                                      f"GET {PREFIX}/sd-models lists the models")
            if sizes[1] != sizes[0]:
                (mw, mh), (iw, ih) = sizes[1], sizes[0]
                raise A1111Error(422, f"the mask is {mw}x{mh} but the init image is "
                                      f"{iw}x{ih}; send them at the same size")
        try:
            stored = await self.api.upload(caller, init)
        except UploadError as exc:
            raise A1111Error(422, str(exc)) from None
        except Refused as exc:
            raise A1111Error(400, str(exc), BLOCKED) from None
        common = {"image_id": stored.image_id, "prompt": body.prompt,
                  "strength": min(max(body.denoising_strength, 0.05), 1.0),
                  "seed": body.seed if body.seed >= 0 else None}
        if mask is None:
            args = {**common, "n": body.images(), "negative_prompt": body.negative_prompt or None}
            result = await self._run(caller, "edit_image", args, model, body)
        else:
            drawn = await asyncio.to_thread(shapes.mask_png, mask,
                                            bool(body.inpainting_mask_invert))
            result = await self._run(caller, "edit_region", {**common, "mask_png": drawn},
                                     model, body)
        return await self._answer(body, result, model)

    async def _body(self, request: web.Request) -> bytes:
        return await read_body(request, self.api.max_body)

    async def _run(self, caller: Caller, tool: str, args: dict[str, Any], model: str,
                   body: shapes.Txt2ImgRequest) -> ToolResult:
        kept = {k: v for k, v in args.items() if v is not None}
        try:
            result = await self.api.call(caller, tool, kept, engine=model,
                                         steps=body.clamped_steps())
        except BaseException as exc:
            failure = _failure(exc)
            if failure is None:
                raise
            raise failure from None
        if not result.images:
            raise A1111Error(400, result.text or "no picture could be delivered", BLOCKED)
        return result

    async def _answer(self, body: shapes.Txt2ImgRequest, result: ToolResult, model: str
                      ) -> web.StreamResponse:
        pictures = await asyncio.gather(*(self.api.picture(i.image_id) for i in result.images))
        named = self.api.engines.get(model)
        guidance = named.engine.guidance_scale if named is not None else 0.0
        images = [base64.b64encode(p).decode() for p in pictures] if body.send_images else []
        response = web.json_response({"images": images, "parameters": shapes.parameters(body),
                                      "info": shapes.info(body, result, model, guidance)})
        response[IMAGES] = len(pictures)
        return response

    # ---- the checkpoint ---------------------------------------------------------------
    async def _model(self, caller: Caller, body: shapes.Txt2ImgRequest) -> str:
        """The engine for this request: `override_settings`, else the key's choice."""
        asked = body.model()
        if asked is not None:
            return self._known(asked)
        chosen = (await self._record(caller)).settings.model
        return chosen if chosen is not None and self.api.engines.get(chosen) is not None \
            else self.api.engines.default.name

    def _known(self, name: object) -> str:
        if not isinstance(name, str) or self.api.engines.get(name) is None:
            raise A1111Error(404, f"model {name!r} not found; GET {PREFIX}/sd-models lists "
                                  "them")
        return name

    async def _record(self, caller: Caller) -> ConversationRecord:
        return await self.api.conversations.load(_options_key(caller))

    async def get_options(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        return web.json_response(shapes.options(await self._model(caller,
                                                                  shapes.Txt2ImgRequest())))

    async def set_options(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        try:
            body = json.loads(await self._body(request) or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise A1111Error(422, "the options are a JSON object", "RequestValidationError")
        if body.get("sd_model_checkpoint") is not None:  # the rest: nothing easel sets
            name = self._known(body["sd_model_checkpoint"])

            def choose(rec: ConversationRecord) -> None:
                rec.settings.model = name

            await self.api.conversations.update(_options_key(caller), choose, user=caller.owner)
        return web.json_response(None)

    async def sd_models(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        return web.json_response(shapes.model_items(
            [(e.name, e.engine.identity.model.rstrip("/").rsplit("/", 1)[-1])
             for e in self.api.engines]))

    # ---- this key's jobs ---------------------------------------------------------------
    async def progress(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        jobs = await self.api.jobs.jobs_for(caller.user_id)
        running = next((j for j in jobs if j.position is None), None)
        first = running or (jobs[0] if jobs else None)
        if first is None:
            return web.json_response(shapes.progress(0, 0, 0.0, 0, "", None))
        text = None if running else f"#{first.position} in line"
        return web.json_response(shapes.progress(
            first.step, first.total, first.eta_s or 0.0, len(jobs), f"task({first.id})", text))

    async def interrupt(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        await self.api.jobs.cancel_user(caller.user_id)
        return web.json_response(None)


def _failure(exc: BaseException) -> A1111Error | None:
    """What a failure below the API answers (None: not ours to answer; it propagates)."""
    if isinstance(exc, UnknownModel):
        return A1111Error(404, str(exc))
    if isinstance(exc, Refused):
        return A1111Error(400, str(exc), BLOCKED)
    if isinstance(exc, ContentRefused):
        return A1111Error(400, f"{exc.provider}'s content policy declined this request",
                          BLOCKED)
    if isinstance(exc, QuotaExceeded):
        return A1111Error(429, str(exc), "QuotaExceeded",
                          {"Retry-After": str(max(1, round(exc.retry_after_s)))})
    if isinstance(exc, (ToolArgsError, ToolError)):
        return A1111Error(422, str(exc))
    if isinstance(exc, JobCancelled):
        return A1111Error(409, "interrupted: the job was cancelled", "Interrupted")
    if isinstance(exc, EngineBusy):
        return A1111Error(503, f"the image engine is busy: {exc}", "EngineBusy",
                          {"Retry-After": str(max(1, round(exc.retry_after_s or 30)))})
    if isinstance(exc, (StorageGaveUp, *OUTAGES)):
        return A1111Error(503, "storage is unavailable; try again in a minute",
                          "StorageUnavailable", {"Retry-After": "5"})
    if isinstance(exc, GenerationError):
        return A1111Error(500, f"the image could not be made: {exc}", "GenerationError")
    return None


def _error(exc: A1111Error) -> web.Response:
    return web.json_response(shapes.error_body(exc.status, exc.detail, exc.kind),
                             status=exc.status, headers=exc.headers)


def _options_key(caller: Caller) -> str:
    return f"conv/a1111/-/{caller.user_id}"


def _fixed(value: Any) -> Handler:
    async def answer(request: web.Request, caller: Caller) -> web.StreamResponse:
        return web.json_response(value)

    return answer


Factory = Callable[[web.Application], ApiTools]
_PICKS: list[tuple[str, str, Callable[[A1111Api], Handler]]] = [
    ("POST", "txt2img", lambda a: a.txt2img), ("POST", "img2img", lambda a: a.img2img),
    ("GET", "options", lambda a: a.get_options), ("POST", "options", lambda a: a.set_options),
    ("GET", "sd-models", lambda a: a.sd_models), ("GET", "progress", lambda a: a.progress),
    ("POST", "interrupt", lambda a: a.interrupt),
    ("GET", "samplers", lambda a: _fixed(shapes.SAMPLERS)),
    ("GET", "schedulers", lambda a: _fixed(shapes.SCHEDULERS)),
    ("GET", "upscalers", lambda a: _fixed(shapes.UPSCALERS)),
    ("GET", "latent-upscale-modes", lambda a: _fixed([])),
    ("GET", "sd-vae", lambda a: _fixed([])),
]


def add_a1111_routes(app: web.Application, factory: Factory) -> None:
    """Serve `/sdapi/v1/*`; `factory` gives the API tools once the services are up."""
    routes: dict[tuple[str, str], Route] = {}

    def bind(method: str, endpoint: str) -> Route:
        async def handle(request: web.Request) -> web.StreamResponse:
            if not routes:  # built on the first request: the services exist by then
                api = A1111Api(factory(request.app))
                routes.update({(m, e): api.route(e, pick(api)) for m, e, pick in _PICKS})
            return await routes[(method, endpoint)](request)

        return handle

    for method, endpoint, _ in _PICKS:
        app.router.add_route(method, f"{PREFIX}/{endpoint}", bind(method, endpoint))
