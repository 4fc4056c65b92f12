"""The OpenAI Images API (bot/api): what it costs over calling the image tool in-process.

One process, one event loop: easel's real app (EASEL_API=on, the built-in demo model on
the CPU, the configured safety gate, provenance, the file image store) served on
127.0.0.1, and the official `openai` SDK as the client (so the client's own parsing is
counted against the API: a conservative figure). In one run:
1. overhead per image at 512 px, b64_json: `images.generate` against the image tool's
   `run` on the same services (queue, engine, checkpoint 3, stamp, store), alternated:
   p50 of each; the API's own cost within each request (the client's time less the
   tool's time that the answer's `Server-Timing` reports, so the engine's and the CPU's
   noise cancel out), and the paired differences of the alternated calls;
2. throughput with 50 concurrent clients (a key each) against the local runner, against
   50 concurrent in-process tool calls, images/s and the ratio;
3. time to the first partial image of a `stream=True` request against the time to the
   first preview of the same picture in the web chat (the engine paced at 0.5 s a step,
   tests/support/paced_engine.py, so previews come as on a real model), p50 and ratio.

Usage: python -m bench.api [--pairs 25] [--clients 50] [--per-client 3] [--stream-runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the demo model never needs a hub

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402
from openai import AsyncOpenAI  # noqa: E402

from bot.app.openai_wiring import API_KEYS  # noqa: E402
from bot.app.server import SERVICES, build_services, create_app  # noqa: E402
from bot.app.settings import load_settings  # noqa: E402
from imaging.demo import default_model_dir  # noqa: E402
from imaging.engines.diffusers import DiffusersEngine  # noqa: E402
from tests.support.paced_engine import Paced  # noqa: E402
from tools.base import ToolContext  # noqa: E402
from tools.image_args import GenerateImageArgs  # noqa: E402

PROMPT = "a red heart on a blue background"


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def _sdk(url: str, key: str) -> AsyncOpenAI:
    return AsyncOpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=600)


async def _timed(call: Callable[[], Awaitable[Any]]) -> float:
    t0 = time.perf_counter()
    await call()
    return time.perf_counter() - t0


def _p50_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


async def overhead(app: web.Application, url: str, pairs: int) -> None:
    svc = app[SERVICES]
    tool = svc.tools.get("generate_image")
    key, _ = await app[API_KEYS].create("bench-overhead")
    sdk = _sdk(url, key)

    async def in_process() -> None:
        await tool.run(GenerateImageArgs(prompt=PROMPT, n=1, size="512x512"),
                       ToolContext("bench", "bench-tool"))

    own: list[float] = []  # per request: the client's time less the tool's (Server-Timing)

    async def through_api() -> None:
        t0 = time.perf_counter()
        raw = await sdk.images.with_raw_response.generate(prompt=PROMPT, size="512x512",
                                                          response_format="b64_json")
        result = raw.parse()
        took = time.perf_counter() - t0
        assert result.data and result.data[0].b64_json
        timing = dict(part.split(";dur=") for part in raw.headers["server-timing"].split(", "))
        own.append(took - float(timing["tool"]) / 1000)

    for _ in range(3):  # warm: the 512 px pipeline, NudeNet at that size, the client
        await in_process()
        await through_api()
    own.clear()
    tools, apis = [], []
    for i in range(pairs):  # alternated, so drift hits both alike
        first, second = (in_process, through_api) if i % 2 else (through_api, in_process)
        a, b = await _timed(first), await _timed(second)
        tools.append(a if first is in_process else b)
        apis.append(b if first is in_process else a)
    await sdk.close()
    diffs = [a - t for a, t in zip(apis, tools, strict=True)]
    print(f"1. overhead at 512x512, b64_json, {pairs} pairs (demo model, CPU)")
    print(f"   in-process tool call p50 {_p50_ms(tools):8.1f} ms")
    print(f"   OpenAI API (SDK)     p50 {_p50_ms(apis):8.1f} ms")
    print(f"   API overhead per image, within each request (client time less the tool's "
          f"Server-Timing): p50 {_p50_ms(own):5.1f} ms, p90 "
          f"{statistics.quantiles(own, n=10)[-1] * 1000:5.1f} ms (target <= 10 ms)")
    print(f"   across the alternated calls: p50 of paired differences {_p50_ms(diffs):6.1f} ms, "
          f"difference of p50s {_p50_ms(apis) - _p50_ms(tools):6.1f} ms (engine and CPU noise "
          "included)")


async def throughput(app: web.Application, url: str, clients: int, per_client: int,
                     tag: str = "") -> None:
    svc = app[SERVICES]
    tool = svc.tools.get("generate_image")
    keys = [(await app[API_KEYS].create(f"bench-client-{tag}{i}"))[0] for i in range(clients)]
    sdks = [_sdk(url, k) for k in keys]

    async def api_client(sdk: AsyncOpenAI) -> None:
        for _ in range(per_client):
            result = await sdk.images.generate(prompt=PROMPT, response_format="b64_json")
            assert result.data

    async def tool_client(i: int) -> None:
        for _ in range(per_client):
            await tool.run(GenerateImageArgs(prompt=PROMPT, n=1),
                           ToolContext("bench", f"bench-user-{i}"))

    # Each client's connection (and the SDK's TLS context, made on first use) is set up
    # before the clock starts: an app keeps its client.
    await asyncio.gather(*(sdk.models.list() for sdk in sdks))
    total = 2 * clients * per_client
    t_tool = t_api = 0.0
    for order in ("tool", "api"), ("api", "tool"):  # both orders: drift hits both alike
        for which in order:
            if which == "tool":
                t_tool += await _timed(lambda: asyncio.gather(
                    *(tool_client(i) for i in range(clients))))
            else:
                t_api += await _timed(lambda: asyncio.gather(*(api_client(s) for s in sdks)))
    for sdk in sdks:
        await sdk.close()
    print(f"2. throughput, {clients} concurrent clients x {per_client} images, twice each "
          f"(256 px, local runner, batches of up to {svc.settings.max_batch_images})")
    print(f"   in-process tool calls {total / t_tool:6.2f} images/s ({t_tool:.1f} s)")
    print(f"   OpenAI API (SDK)      {total / t_api:6.2f} images/s ({t_api:.1f} s)")
    print(f"   ratio API / in-process {t_tool / t_api:.3f}")


async def first_preview(url: str, key: str, runs: int) -> None:
    sdk = _sdk(url, key)

    async def stream_first() -> float:
        t0 = time.perf_counter()
        first = None
        stream = await sdk.images.generate(prompt=PROMPT, stream=True, partial_images=1)
        async for event in stream:
            if event.type == "image_generation.partial_image" and first is None:
                first = time.perf_counter() - t0
        assert first is not None, "no partial image came"
        return first

    async def web_first(s: aiohttp.ClientSession) -> float:
        t0 = time.perf_counter()
        first = None
        async with s.post(url + "/api/chat", json={"text": "/imagine --raw " + PROMPT}) as r:
            async for line in r.content:
                event = json.loads(line) if line.strip() else {}
                if event.get("type") == "progress" and event.get("preview") and first is None:
                    first = time.perf_counter() - t0
        assert first is not None, "no preview came"
        return first

    streams, webs = [], []
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as s:
        await (await s.get(url + "/")).release()  # the chat's session cookie
        await stream_first()
        await web_first(s)
        for i in range(runs):
            if i % 2:
                streams.append(await stream_first())
                webs.append(await web_first(s))
            else:
                webs.append(await web_first(s))
                streams.append(await stream_first())
    await sdk.close()
    print(f"3. first preview, {runs} runs each (demo model paced at 0.5 s a step)")
    print(f"   stream=True first partial image p50 {_p50_ms(streams):8.1f} ms")
    print(f"   web chat first preview          p50 {_p50_ms(webs):8.1f} ms")
    print(f"   ratio API / web chat {_p50_ms(streams) / _p50_ms(webs):.3f} (target <= 1.1)")


async def run(args: argparse.Namespace) -> None:
    engine = await asyncio.to_thread(DiffusersEngine.load, str(default_model_dir()),
                                     device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp) / "data", api="on", web_chat="on",
                                 max_image_side=1024, quota_images_per_minute=None)
        app = create_app(settings, build_services(settings, engine))
        runner, url = await _serve(app)
        try:
            await overhead(app, url, args.pairs)
            await throughput(app, url, args.clients, args.per_client)
        finally:
            await runner.cleanup()
        settings = load_settings(data_dir=Path(tmp) / "paced", api="on", web_chat="on")
        app = create_app(settings, build_services(settings, Paced(engine, step_s=0.5)))
        runner, url = await _serve(app)
        try:
            key, _ = await app[API_KEYS].create("bench-stream")
            await first_preview(url, key, args.stream_runs)
        finally:
            await runner.cleanup()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--pairs", type=int, default=25)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--per-client", type=int, default=3)
    p.add_argument("--stream-runs", type=int, default=5)
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()
