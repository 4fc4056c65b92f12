"""The MCP server with the official `mcp` SDK's own client: over stdio (`easel mcp` in a
process of its own, the demo model plus a loopback ComfyUI that a test can hold), and
over streamable HTTP at /mcp on the real app (a key as the bearer token). Each lists the
tools, draws with progress notifications, and cancels a running call: the job stops."""

from __future__ import annotations

import asyncio
import base64
import io
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from aiohttp import ClientSession as HttpSession
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from PIL import Image, ImageDraw

from bot.state.keys import FileKeyStore
from tests.support.engines import Steered
from tests.support.fake_comfyui import comfyui
from tests.support.helpers import serve_app
from tools.image_args import GenerateImageArgs

ROOT = Path(__file__).resolve().parents[2]
TOOLS = {"generate_image", "edit_image", "edit_region", "zoom_out", "pan", "upscale",
         "describe_image"}


class Progress:
    """A progress callback that remembers what came and can be awaited."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None, str | None]] = []
        self.step = anyio.Event()

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, total, message))
        if total is not None:
            self.step.set()


def _picture(result: Any) -> tuple[Image.Image, str]:
    """The one picture of a tool result and its text."""
    assert not result.is_error, result.content
    images = [c for c in result.content if c.type == "image"]
    [text] = [c.text for c in result.content if c.type == "text"]
    assert len(images) == 1 and images[0].mime_type == "image/png"
    return Image.open(io.BytesIO(base64.b64decode(images[0].data))), text


def _png_b64(image: Image.Image) -> str:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


async def _cancel_while_running(session: ClientSession, arguments: dict[str, Any],
                                reached: Any) -> Progress:
    """Call generate_image, wait until the engine is mid-job (`reached`, awaitable), then
    cancel the call as a client does: the SDK sends notifications/cancelled."""
    progress = Progress()
    async with anyio.create_task_group() as tg:
        async def call() -> None:
            await session.call_tool("generate_image", arguments, progress_callback=progress)
            raise AssertionError("the cancelled call returned")

        tg.start_soon(call)
        await reached()
        with anyio.fail_after(30):
            await progress.step.wait()
        tg.cancel_scope.cancel()
    return progress


# ---- stdio: `easel mcp` --------------------------------------------------------------

def _engines_file(tmp_path: Path, demo_model_dir: Path, comfy_url: str) -> Path:
    workflow = ROOT / "deploy" / "comfyui" / "txt2img.json"
    path = tmp_path / "engines.toml"
    path.write_text(
        f'[[engine]]\nname = "demo"\nkind = "diffusers"\nmodel = "{demo_model_dir}"\n\n'
        f'[[engine]]\nname = "comfy"\nkind = "comfyui"\nbase_url = "{comfy_url}"\n'
        f'workflow = "{workflow}"\nsteps = 4\nsize = "256x256"\n', encoding="utf-8")
    return path


@asynccontextmanager
async def _easel_mcp(tmp_path: Path, engines: Path):
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "bot.app.cli", "mcp"], cwd=str(ROOT),
        env={"EASEL_DATA_DIR": str(tmp_path / "data"), "EASEL_ENGINES": str(engines),
             "HF_HUB_OFFLINE": "1"})
    with (tmp_path / "easel-mcp.log").open("w") as log:
        async with stdio_client(params, errlog=log) as (read, write), \
                ClientSession(read, write) as session:
            with anyio.fail_after(240):  # the models load before the first answer
                await session.initialize()
            yield session


@pytest.mark.timeout(600)
async def test_easel_mcp_over_stdio_draws_edits_and_cancels(tmp_path, demo_model_dir):
    async with comfyui(hold_at=2) as comfy, \
            _easel_mcp(tmp_path, _engines_file(tmp_path, demo_model_dir, comfy.url)) as session:
        listed = {t.name: t for t in (await session.list_tools()).tools}
        assert set(listed) == TOOLS
        schema = listed["generate_image"].input_schema
        # The chat tool's own model, plus the engine to use (this deployment has two).
        assert {k: v for k, v in schema["properties"].items() if k != "model"} == \
            GenerateImageArgs.model_json_schema()["properties"]
        assert schema["properties"]["model"]["enum"] == ["demo", "comfy"]
        assert {"image", "image_id", "mask", "prompt"} <= set(
            listed["edit_image"].input_schema["properties"])

        progress = Progress()
        result = await session.call_tool(
            "generate_image", {"prompt": "a red heart on a blue background", "seed": 7},
            progress_callback=progress)
        picture, text = _picture(result)
        assert picture.size == (256, 256)
        assert "Prompt used: a red heart on a blue background" in text
        [image_id] = [line.split()[2] for line in text.splitlines()
                      if line.startswith("Image id:")]
        assert result.structured_content["images"][0]["image_id"] == image_id
        values = [p for p, _, _ in progress.seen]
        assert values == sorted(set(values)) and progress.seen[-1][:2] == (4, 4)

        # The picture back by its id, then one sent along with a mask of its left half.
        edited, _ = _picture(await session.call_tool(
            "edit_image", {"image_id": image_id, "prompt": "a green heart", "seed": 1}))
        assert edited.size == (256, 256)
        mask = Image.new("L", (256, 256), 0)
        ImageDraw.Draw(mask).rectangle((0, 0, 127, 255), fill=255)
        region, text = _picture(await session.call_tool("edit_image", {
            "image": "data:image/png;base64," + _png_b64(picture), "mask": _png_b64(mask),
            "prompt": "a yellow sun on a blue background", "seed": 2}))
        assert region.size == (256, 256) and "Image id:" in text

        bad = await session.call_tool("generate_image", {"prompt": "a cat", "model": "nope"})
        assert bad.is_error and "nope" in bad.content[0].text

        # The ComfyUI engine holds at step 2: cancelling the call stops its run there.
        async def held() -> None:
            with anyio.fail_after(60):
                await comfy.at_hold.wait()

        await _cancel_while_running(session, {"prompt": "a slow tower", "model": "comfy"},
                                    held)
        with anyio.fail_after(30):  # the fake releases its hold when it is interrupted
            await comfy.release.wait()
        assert comfy.interrupts[0]["prompt_id"]
        # The session goes on after a cancelled call.
        again, _ = _picture(await session.call_tool("generate_image",
                                                    {"prompt": "a blue ball", "seed": 3}))
        assert again.size == (256, 256)


# ---- streamable HTTP at /mcp -------------------------------------------------------------

async def _key(settings, name: str) -> str:
    key, _ = await FileKeyStore(settings.data_dir / "api-keys.json").create(name)
    return key


@asynccontextmanager
async def _http_session(url: str, key: str):
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http, \
            streamable_http_client(url + "/mcp", http_client=http) as (read, write), \
            ClientSession(read, write) as session:
        await session.initialize()
        yield session


async def test_mcp_over_http_needs_a_key_draws_and_cancels(
        settings_factory, demo_engine, safety_gate):
    settings = settings_factory(api="on", metrics="on")
    key = await _key(settings, "claude")
    engine = Steered(demo_engine)
    async with serve_app(settings, engine, safety_gate) as (url, services):
        hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "curl", "version": "1"}}}
        async with HttpSession() as s:
            for auth in (None, "Bearer easel-not-a-key", f"Basic {key}"):
                headers = {"Accept": "application/json, text/event-stream"}
                if auth:
                    headers["Authorization"] = auth
                async with s.post(url + "/mcp", json=hello, headers=headers) as resp:
                    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith(
                        "Bearer")
                    assert (await resp.json())["error"]["message"].startswith("a valid easel")

        async with _http_session(url, key) as session:
            listed = {t.name for t in (await session.list_tools()).tools}
            assert listed == TOOLS
            progress = Progress()
            picture, text = _picture(await session.call_tool(
                "generate_image", {"prompt": "a red heart on a blue background", "seed": 5,
                                   "size": "320x256"}, progress_callback=progress))
            assert picture.size == (320, 256) and "Prompt used:" in text
            assert progress.seen[0][1] is None and "in line" in progress.seen[0][2]
            assert [p for p, t, _ in progress.seen if t] == [1, 2, 3, 4]

            refused = await session.call_tool(
                "generate_image", {"prompt": "a nude woman lying on a bed, explicit, nsfw"})
            assert refused.is_error and "nude" not in refused.content[0].text

            engine.hold_at, before = 2, len(engine.steps_run)
            await _cancel_while_running(
                session, {"prompt": "a slow tower", "seed": 1},
                lambda: asyncio.to_thread(engine.at_hold.wait, 30))
            engine.release.set()
            for _ in range(300):  # the job stops at its next step
                if not await services.runner.jobs_for("key:claude"):
                    break
                await asyncio.sleep(0.05)
            assert not await services.runner.jobs_for("key:claude")
            assert 4 not in engine.steps_run[before:]  # stopped before its last step
        async with HttpSession() as s, s.get(url + "/metrics") as resp:
            metrics = await resp.text()
        assert 'easel_jobs_total{outcome="cancelled"} 1.0' in metrics
        assert 'easel_api_images_total{api="mcp",key="claude"} 1.0' in metrics
