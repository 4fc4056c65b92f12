"""A loopback ComfyUI server: its HTTP routes and its websocket, in ComfyUI's own messages.

`POST /prompt` queues an API-format graph for a `client_id`; the run then sends, on that
client's `/ws?clientId=` socket, `status`, `execution_start`, `executing` {node},
`progress` {value, max} with a binary preview frame after each step (4-byte event type 1
= PREVIEW_IMAGE, 4-byte format 1 = JPEG, the JPEG), `executed` {output: {images}},
`executing` {node: null} and `execution_success`. Results are at `/history/{id}` and
`/view`; `POST /upload/image` takes an input picture (or a mask); `POST /interrupt` and
`POST /queue {"delete": [...]}` are recorded.

As ComfyUI does, `/prompt` refuses a graph whose LoadImage / LoadImageMask nodes name a
file that was never uploaded (or a mask channel that does not exist). The picture a run
makes has the size of its ImageScale node, else its EmptyLatentImage, else its loaded
picture; with a LoadImageMask, the loaded picture is kept where the mask's channel is
dark and painted over where it is light, so a test sees which pixels were redrawn.
"""

from __future__ import annotations

import asyncio
import io
import struct
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from PIL import Image


@dataclass
class FakeComfyUI:
    url: str = ""
    prompts: list[dict[str, Any]] = field(default_factory=list)  # every graph queued
    uploads: dict[str, bytes] = field(default_factory=dict)
    interrupts: list[Any] = field(default_factory=list)
    deletes: list[Any] = field(default_factory=list)
    fail_with: str | None = None  # the next run ends in execution_error with this message
    hold_at: int | None = None  # runs wait at this step until `release` is set
    at_hold: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _sockets: dict[str, web.WebSocketResponse] = field(default_factory=dict)
    _history: dict[str, Any] = field(default_factory=dict)
    _files: dict[str, bytes] = field(default_factory=dict)
    _runs: set[asyncio.Task[Any]] = field(default_factory=set)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_get("/ws", self._ws)
        app.router.add_post("/prompt", self._prompt)
        app.router.add_get("/history/{pid}", self._get_history)
        app.router.add_get("/view", self._view)
        app.router.add_post("/upload/image", self._upload)
        app.router.add_post("/interrupt", self._interrupt)
        app.router.add_post("/queue", self._queue)
        return app

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        self._sockets[sid] = ws
        await ws.send_json({"type": "status", "data": {"status": {"exec_info": {
            "queue_remaining": 0}}, "sid": sid}})
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break
        self._sockets.pop(sid, None)
        return ws

    async def _prompt(self, request: web.Request) -> web.Response:
        body = await request.json()
        graph = body.get("prompt")
        if not isinstance(graph, dict) or not graph:
            return web.json_response({"error": {"type": "invalid_prompt", "message":
                                                "Cannot execute because the prompt is empty",
                                                "details": "", "extra_info": {}},
                                      "node_errors": {}}, status=400)
        node_errors = self._invalid_inputs(graph)
        if node_errors:
            return web.json_response({"error": {"type": "prompt_outputs_failed_validation",
                                                "message": "Prompt outputs failed validation",
                                                "details": "", "extra_info": {}},
                                      "node_errors": node_errors}, status=400)
        pid = str(uuid.uuid4())
        self.prompts.append(graph)
        task = asyncio.ensure_future(self._run(pid, graph, body.get("client_id", "")))
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)
        return web.json_response({"prompt_id": pid, "number": len(self.prompts),
                                  "node_errors": {}})

    def _invalid_inputs(self, graph: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, Any] = {}
        for nid, node in graph.items():
            inputs = node.get("inputs", {})
            problems = []
            if node["class_type"] in ("LoadImage", "LoadImageMask") and \
                    inputs.get("image") not in self.uploads:
                problems.append(f"image - Invalid image file: {inputs.get('image')}")
            if node["class_type"] == "LoadImageMask" and \
                    inputs.get("channel") not in ("alpha", "red", "green", "blue"):
                problems.append(f"channel - Value not in list: {inputs.get('channel')}")
            if problems:
                errors[nid] = {"errors": [{"type": "value_not_in_list", "message": p,
                                           "details": p} for p in problems],
                               "dependent_outputs": ["9"], "class_type": node["class_type"]}
        return errors

    def loaded(self, graph: dict[str, Any], class_type: str) -> Image.Image | None:
        """The uploaded file a LoadImage / LoadImageMask node of `graph` reads."""
        node = next((n for n in graph.values() if n["class_type"] == class_type), None)
        if node is None:
            return None
        image = Image.open(io.BytesIO(self.uploads[node["inputs"]["image"]]))
        image.load()
        return image

    def _picture(self, graph: dict[str, Any], seed: int) -> bytes:
        by_type = {n["class_type"]: n["inputs"] for n in graph.values()}
        source, mask = self.loaded(graph, "LoadImage"), self.loaded(graph, "LoadImageMask")
        sized = by_type.get("ImageScale") or by_type.get("EmptyLatentImage")
        w, h = (sized["width"], sized["height"]) if sized else \
            source.size if source is not None else (512, 512)
        colour = (40 + seed % 150, 90, 160)
        if source is None or mask is None:
            return _png(w, h, colour)
        channel = by_type["LoadImageMask"]["channel"]
        band = mask.convert("RGBA").getchannel({"alpha": "A", "red": "R", "green": "G",
                                                "blue": "B"}[channel])
        if channel == "alpha":  # ComfyUI: transparent = masked
            band = band.point(lambda v: 255 - v)
        out = source.convert("RGB").resize((w, h))
        out.paste(Image.new("RGB", (w, h), colour), mask=band.resize((w, h)).point(
            lambda v: 255 if v >= 128 else 0))
        buf = io.BytesIO()
        out.save(buf, format="PNG")
        return buf.getvalue()

    async def _run(self, pid: str, graph: dict[str, Any], client: str) -> None:
        ws = self._sockets.get(client)
        if ws is None:
            return
        sampler = next(n for n in graph.values() if n["class_type"] == "KSampler")["inputs"]
        steps = int(sampler["steps"])
        await ws.send_json({"type": "execution_start", "data": {"prompt_id": pid}})
        await ws.send_json({"type": "executing", "data": {"node": "3", "prompt_id": pid}})
        for step in range(1, steps + 1):
            if self.hold_at == step:
                self.at_hold.set()
                await self.release.wait()
            if pid in self.interrupts_for():
                await ws.send_json({"type": "execution_interrupted",
                                    "data": {"prompt_id": pid, "node_id": "3"}})
                return
            await ws.send_json({"type": "progress", "data": {
                "value": step, "max": steps, "prompt_id": pid, "node": "3"}})
            await ws.send_bytes(struct.pack(">II", 1, 1) + _jpeg(64, 64, step))
        if self.fail_with:
            message, self.fail_with = self.fail_with, None
            await ws.send_json({"type": "execution_error", "data": {
                "prompt_id": pid, "node_id": "3", "node_type": "KSampler",
                "exception_message": message, "exception_type": "RuntimeError",
                "traceback": [], "executed": []}})
            return
        name = f"easel_{pid[:8]}_00001_.png"
        self._files[name] = self._picture(graph, int(sampler.get("seed", 0)))
        images = [{"filename": name, "subfolder": "", "type": "output"}]
        self._history[pid] = {"prompt": [len(self.prompts), pid, graph, {}, ["9"]],
                              "outputs": {"9": {"images": images}},
                              "status": {"status_str": "success", "completed": True,
                                         "messages": []}}
        await ws.send_json({"type": "executed", "data": {"node": "9", "display_node": "9",
                                                         "output": {"images": images},
                                                         "prompt_id": pid}})
        await ws.send_json({"type": "executing", "data": {"node": None, "prompt_id": pid}})
        await ws.send_json({"type": "execution_success", "data": {"prompt_id": pid}})

    def interrupts_for(self) -> set[str]:
        return {i.get("prompt_id") for i in self.interrupts if isinstance(i, dict)}

    async def _get_history(self, request: web.Request) -> web.Response:
        pid = request.match_info["pid"]
        return web.json_response({pid: self._history[pid]} if pid in self._history else {})

    async def _view(self, request: web.Request) -> web.Response:
        data = self._files.get(request.query.get("filename", ""))
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/png")

    async def _upload(self, request: web.Request) -> web.Response:
        name = ""
        async for part in await request.multipart():
            if part.name == "image":
                name = part.filename or "upload.png"
                self.uploads[name] = bytes(await part.read())
        return web.json_response({"name": name, "subfolder": "", "type": "input"})

    async def _interrupt(self, request: web.Request) -> web.Response:
        self.interrupts.append(await request.json() if request.can_read_body else {})
        self.release.set()
        return web.Response()

    async def _queue(self, request: web.Request) -> web.Response:
        self.deletes.append(await request.json())
        return web.Response()


def _png(w: int, h: int, colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg(w: int, h: int, step: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (10 * step % 255, 60, 90)).save(buf, format="JPEG")
    return buf.getvalue()


@asynccontextmanager
async def comfyui(**options: Any) -> AsyncIterator[FakeComfyUI]:
    fake = FakeComfyUI(**options)
    server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        fake.release.set()
        for ws in list(fake._sockets.values()):
            await ws.close()
        await server.close()
