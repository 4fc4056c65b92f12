"""A ComfyUI server as an engine: one workflow run per image, over its HTTP and websocket API.

Per image: open `/ws?clientId=…` (a fresh client id, so every message on it is this
run's), `POST /prompt` with the filled-in workflow, then read the socket: `progress`
messages are steps, binary frames are previews (4-byte event type 1, 4-byte image
format, the JPEG/PNG bytes; type 4 carries a JSON metadata block first),
`executing` with `node: null` (or `execution_success`) ends it, `execution_error` fails
it. The pictures come from `/history/{prompt_id}` and `/view`. An edit first uploads the
picture with `POST /upload/image` (a masked edit its mask too, the same way). A cancelled
job interrupts its run and leaves the queue (`POST /interrupt`, `POST /queue {"delete": [...]}`).

Which workflow runs: a masked edit, the `mask_workflow`; an edit asking for a larger size
than its picture (an upscale), the `upscale_workflow` if there is one (it scales to
`{{width}}`x`{{height}}` and refines), else the `edit_workflow`; anything else, `workflow`.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import struct
import uuid
from typing import Any

import aiohttp
from PIL import Image

from imaging.engine import (
    EngineCapabilities,
    GenerationError,
    ImageRequest,
    ImageResult,
    StepCallback,
    StepInfo,
)
from imaging.engines.codecs import decode_picture, mask_png, png_bytes
from imaging.engines.comfyui_workflow import Workflow, WorkflowError
from imaging.engines.remote import RemoteEngine

log = logging.getLogger(__name__)

PREVIEW_IMAGE, PREVIEW_IMAGE_WITH_METADATA = 1, 4


class ComfyUIEngine(RemoteEngine):
    max_batch_images = 4

    def __init__(self, *, name: str, base_url: str, workflow: Workflow,
                 edit_workflow: Workflow | None = None, mask_workflow: Workflow | None = None,
                 upscale_workflow: Workflow | None = None,
                 default_size: tuple[int, int] = (1024, 1024),
                 sizes: tuple[tuple[int, int], ...] | None = None, default_steps: int = 20,
                 timeout_s: float = 300.0, max_concurrency: int = 2) -> None:
        super().__init__(name, name, max_concurrency=max_concurrency,
                         base_url=base_url.rstrip("/") + "/")
        self.base_url = base_url.rstrip("/")
        self.workflow = workflow
        self.edit_workflow = edit_workflow
        self.mask_workflow = mask_workflow
        self.upscale_workflow = upscale_workflow
        self.default_size = default_size
        self.default_steps = default_steps
        self.timeout_s = timeout_s
        used = workflow.used
        sized = {"width", "height"} <= used
        self.capabilities = EngineCapabilities(
            sizes=sizes if sizes or sized else (default_size,), max_n=self.max_batch_images,
            edits=edit_workflow is not None, negative_prompt="negative_prompt" in used,
            seeds="seed" in used, previews=True, steps="steps" in used,
            inpaint=mask_workflow is not None, outpaint=mask_workflow is not None,
            upscale=upscale_workflow is not None)

    async def agenerate(self, reqs: list[ImageRequest], on_step: StepCallback | None = None
                        ) -> list[ImageResult]:
        return [await self._job(req, on_step) for req in reqs]

    def _workflow(self, req: ImageRequest) -> Workflow:
        if req.mask is not None:
            if self.mask_workflow is None:
                raise GenerationError(f"{self.name} has no mask workflow (mask_workflow)")
            return self.mask_workflow
        init = req.init_image
        if init is None:
            return self.workflow
        if self.upscale_workflow is not None and (req.width > init.width
                                                  or req.height > init.height):
            return self.upscale_workflow
        if self.edit_workflow is None:
            raise GenerationError(f"{self.name} has no edit workflow")
        return self.edit_workflow

    async def _job(self, req: ImageRequest, on_step: StepCallback | None) -> ImageResult:
        workflow = self._workflow(req)
        names: dict[str, Any] = {}
        if req.init_image is not None:
            names["image"] = await self._upload(await asyncio.to_thread(png_bytes, req.init_image))
            # Masked edits default to redrawing the masked part afresh, as every engine does.
            names["denoise"] = req.strength if req.strength is not None else \
                (1.0 if req.mask is not None else 0.6)
        if req.mask is not None:
            names["mask"] = await self._upload(await asyncio.to_thread(mask_png, req.mask))
        progress = _Progress(req.n, on_step)
        try:
            async with asyncio.timeout(self.timeout_s):
                parts = await asyncio.gather(*(
                    self._run(req, i, workflow, names, progress) for i in range(req.n)))
        except TimeoutError:
            raise GenerationError(f"{self.name} did not finish within "
                                  f"{self.timeout_s:.0f} s") from None
        except aiohttp.ClientError as exc:
            raise GenerationError(f"I could not reach {self.name} "
                                  f"({type(exc).__name__})") from exc
        seeds = [req.seed + i for i in range(req.n)]
        return ImageResult(req, [p for p in parts], seeds)

    async def _run(self, req: ImageRequest, i: int, workflow: Workflow, names: dict[str, Any],
                   progress: _Progress) -> Image.Image:
        """`names`: the uploaded picture's and mask's names, and the denoise, for an edit."""
        values: dict[str, Any] = {
            "prompt": req.prompt, "negative_prompt": req.negative_prompt or "",
            "seed": req.seed + i, "width": req.width, "height": req.height, "steps": req.steps,
            **names}
        try:
            graph = workflow.fill(values)
        except WorkflowError as exc:
            raise GenerationError(f"{self.name}: {exc}") from None
        client_id = uuid.uuid4().hex
        async with self._slots, self.session.ws_connect(f"ws?clientId={client_id}") as ws:
            async with self.session.post("prompt", json={"prompt": graph,
                                                          "client_id": client_id}) as resp:
                answer = await _json(resp)
                if resp.status != 200 or "prompt_id" not in answer:
                    raise GenerationError(f"{self.name} rejected the workflow: "
                                          f"{_comfy_error(answer, resp.status)}")
            prompt_id = answer["prompt_id"]
            try:
                await self._follow(ws, prompt_id, i, progress)
            except (asyncio.CancelledError, Exception):
                await asyncio.shield(self._abandon(prompt_id))
                raise
        return await self._fetch(prompt_id)

    async def _follow(self, ws: aiohttp.ClientWebSocketResponse, prompt_id: str, i: int,
                      progress: _Progress) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                preview = await asyncio.to_thread(_preview, msg.data)
                if preview is not None:
                    progress.preview(i, preview)
                continue
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            event = json.loads(msg.data)
            kind, data = event.get("type"), event.get("data") or {}
            if data.get("prompt_id") not in (None, prompt_id):
                continue
            if kind == "progress":
                progress.step(i, int(data.get("value", 0)), int(data.get("max", 1)))
            elif kind == "execution_error":
                raise GenerationError(f"{self.name} failed running the workflow: "
                                      f"{str(data.get('exception_message', '')).strip()[:200]}")
            elif kind == "execution_interrupted":
                raise GenerationError(f"{self.name} interrupted the run")
            elif kind == "execution_success" or (kind == "executing" and data.get("node") is None
                                                 and data.get("prompt_id") == prompt_id):
                return
        raise GenerationError(f"{self.name} closed the connection before the picture was ready")

    async def _fetch(self, prompt_id: str) -> Image.Image:
        async with self.session.get(f"history/{prompt_id}") as resp:
            history = await _json(resp)
        outputs = (history.get(prompt_id) or {}).get("outputs") or {}
        images = [img for out in outputs.values() for img in out.get("images", [])
                  if img.get("type", "output") == "output"]
        if not images:
            raise GenerationError(f"{self.name} finished without an output image (does the "
                                  "workflow end in a SaveImage node?)")
        first = images[0]
        params = {"filename": first["filename"], "subfolder": first.get("subfolder", ""),
                  "type": first.get("type", "output")}
        async with self.session.get("view", params=params) as resp:
            if resp.status != 200:
                raise GenerationError(f"{self.name} could not send the picture "
                                      f"(HTTP {resp.status})")
            data = await resp.read()
        return await asyncio.to_thread(decode_picture, data, self.name)

    async def _upload(self, png: bytes) -> str:
        form = aiohttp.FormData()
        form.add_field("image", png, filename=f"easel-{uuid.uuid4().hex[:12]}.png",
                       content_type="image/png")
        form.add_field("overwrite", "true")
        form.add_field("type", "input")
        try:
            async with self.session.post("upload/image", data=form) as resp:
                answer = await _json(resp)
        except aiohttp.ClientError as exc:
            raise GenerationError(f"I could not reach {self.name} "
                                  f"({type(exc).__name__})") from exc
        if resp.status != 200 or "name" not in answer:
            raise GenerationError(f"{self.name} did not take the picture (HTTP {resp.status})")
        sub = answer.get("subfolder") or ""
        return f"{sub}/{answer['name']}" if sub else answer["name"]

    async def _abandon(self, prompt_id: str) -> None:
        """Best effort: stop the run if it is executing, drop it if it still waits."""
        for path, body in (("interrupt", {"prompt_id": prompt_id}),
                           ("queue", {"delete": [prompt_id]})):
            try:
                async with self.session.post(path, json=body) as resp:
                    await resp.read()
            except aiohttp.ClientError as exc:
                log.warning("%s: could not cancel run %s: %s", self.name, prompt_id, exc)


class _Progress:
    """The job's steps and previews over its n runs: it is as far as its slowest run."""

    def __init__(self, n: int, on_step: StepCallback | None) -> None:
        self.on_step = on_step
        self.steps = [0] * n
        self.totals = [1] * n
        self.previews: list[Image.Image | None] = [None] * n

    def step(self, i: int, value: int, total: int) -> None:
        self.steps[i], self.totals[i] = value, max(1, total)
        if self.on_step is not None:
            previews = list(self.previews)
            self.on_step(StepInfo(min(self.steps), max(self.totals),
                                  lambda: None if None in previews else previews))  # type: ignore[arg-type, return-value]

    def preview(self, i: int, image: Image.Image) -> None:
        self.previews[i] = image


def _preview(frame: bytes) -> Image.Image | None:
    if len(frame) < 8:
        return None
    event = struct.unpack(">I", frame[:4])[0]
    if event == PREVIEW_IMAGE:
        data = frame[8:]
    elif event == PREVIEW_IMAGE_WITH_METADATA:
        meta_len = struct.unpack(">I", frame[4:8])[0]
        data = frame[8 + meta_len:]
    else:
        return None
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image.convert("RGB")
    except OSError:
        return None


async def _json(resp: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        data = await resp.json(content_type=None)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _comfy_error(answer: dict[str, Any], status: int) -> str:
    err = answer.get("error")
    if isinstance(err, dict):
        return str(err.get("message") or err.get("type") or f"HTTP {status}")[:200]
    return f"HTTP {status}"


