"""Teams turn benchmark: acknowledgement throughput/latency and image end-to-end time.

Runs, in one go on this machine:
1. a bare botbuilder echo bot (bench/echo_bot.py) and `easel serve`, each in its own
   process, answering N concurrent conversations that post plain messages to
   /api/messages; both reply through the same loopback Bot Connector (in this process).
   Reported: requests/s and p50/p99 latency of the HTTP acknowledgement, and the ratio.
2. an image turn through easel (`/imagine`, acknowledged, then delivered proactively)
   against a bare pipeline call on the same model and settings, median of R runs.

Usage: python -m bench.turn [--conversations 20] [--messages 25] [--image-runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Connector:
    def __init__(self) -> None:
        self.images: asyncio.Queue[float] = asyncio.Queue()
        self.count = 0

    async def send(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.count += 1
        if body.get("attachments"):
            self.images.put_nowait(time.perf_counter())
        return web.json_response({"id": f"a{self.count}"})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/v3/conversations/{cid}/activities", self.send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self.send)
        return app


def _activity(service_url: str, conv: int, i: int, text: str) -> dict:
    return {
        "type": "message", "id": f"m{conv}-{i}", "serviceUrl": service_url,
        "channelId": "msteams", "from": {"id": f"user-{conv}", "name": "bench"},
        "conversation": {"id": f"conv-{conv}", "conversationType": "personal"},
        "recipient": {"id": "28:bot", "name": "bot"}, "text": text,
    }


async def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                async with s.post(url + "/api/messages", data=b"{}",
                                  headers={"Content-Type": "application/json"}) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("server did not start")


_TEXTS = ["hello there", "what can you do?", "thanks!", "how do I change the size?",
          "hi easel", "is this thing on", "good morning", "tell me about seeds"]


async def _load(url: str, service_url: str, conversations: int, messages: int,
                text: str | None) -> tuple[float, list[float]]:
    """Plain messages; varied texts (text=None) so no cache can flatter the figures."""
    latencies: list[float] = []
    conn = aiohttp.TCPConnector(limit=conversations)
    async with aiohttp.ClientSession(connector=conn) as s:
        async def one_conversation(c: int) -> None:
            for i in range(messages):
                t0 = time.perf_counter()
                body = text or f"{_TEXTS[(c + i) % len(_TEXTS)]} #{c}-{i}"
                async with s.post(url + "/api/messages",
                                  json=_activity(service_url, c, i, body)) as r:
                    await r.read()
                    if r.status >= 300:
                        raise RuntimeError(f"HTTP {r.status}")
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(one_conversation(c) for c in range(min(conversations, 4))))  # warm-up
        latencies.clear()
        t0 = time.perf_counter()
        await asyncio.gather(*(one_conversation(c) for c in range(conversations)))
        elapsed = time.perf_counter() - t0
    return len(latencies) / elapsed, latencies


async def _image_turns(url: str, service_url: str, connector: Connector, runs: int
                       ) -> list[float]:
    """Image turns end to end: POST -> ack -> generation -> proactive delivery."""
    e2e: list[float] = []
    async with aiohttp.ClientSession() as s:
        for i in range(runs + 1):
            t0 = time.perf_counter()
            async with s.post(url + "/api/messages", json=_activity(
                    service_url, 999, i, f"/imagine --raw --seed {i} a red apple on a table")) as r:
                await r.read()
            arrived = await asyncio.wait_for(connector.images.get(), 120)
            if i:  # the first run warms caches
                e2e.append(arrived - t0)
    return e2e


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def _start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=ROOT)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=20)
    ap.add_argument("--messages", type=int, default=25)
    ap.add_argument("--image-runs", type=int, default=7)
    args = ap.parse_args()

    connector = Connector()
    runner = web.AppRunner(connector.app(), access_log=None)
    await runner.setup()
    cport = _free_port()
    await web.TCPSite(runner, "127.0.0.1", cport).start()
    service_url = f"http://127.0.0.1:{cport}"

    data_dir = Path(tempfile.mkdtemp(prefix="easel-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EASEL_", "Microsoft"))}
    env.update(HF_HUB_OFFLINE="1", EASEL_DATA_DIR=str(data_dir))
    py = sys.executable

    results: dict[str, tuple[float, list[float]]] = {}
    eport = _free_port()
    echo = _start([py, str(ROOT / "bench" / "echo_bot.py"), "--port", str(eport)], env)
    try:
        await _wait_ready(f"http://127.0.0.1:{eport}", echo)
        results["echo"] = await _load(f"http://127.0.0.1:{eport}", service_url,
                                      args.conversations, args.messages, None)
    finally:
        echo.terminate()
        echo.wait()

    # easel without its safety gate: the foundation's own overhead, comparable to the echo bot.
    port = _free_port()
    bare_env = dict(env, EASEL_DANGEROUSLY_DISABLE_SAFETY="true")
    easel = _start([py, "-m", "bot.app.cli", "serve", "--port", str(port)], bare_env)
    try:
        await _wait_ready(f"http://127.0.0.1:{port}", easel)
        results["easel-nogate"] = await _load(f"http://127.0.0.1:{port}", service_url,
                                              args.conversations, args.messages, None)
        e2e_nogate = await _image_turns(f"http://127.0.0.1:{port}", service_url, connector,
                                        args.image_runs)
    finally:
        easel.terminate()
        easel.wait()

    port = _free_port()
    easel = _start([py, "-m", "bot.app.cli", "serve", "--port", str(port)], env)
    url = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(url, easel)
        results["easel"] = await _load(url, service_url, args.conversations, args.messages, None)
        e2e = await _image_turns(url, service_url, connector, args.image_runs)
    finally:
        easel.terminate()
        easel.wait()
        await runner.cleanup()

    # The baseline: the same demo model, size, steps and guidance, called directly.
    from imaging.demo import default_model_dir
    from imaging.engine import ImageRequest
    from imaging.engines.diffusers import DiffusersEngine

    engine = DiffusersEngine.load(str(default_model_dir()), device="cpu")
    w, h = engine.default_size
    bare: list[float] = []
    for i in range(args.image_runs + 1):
        t0 = time.perf_counter()
        engine.generate([ImageRequest("a red apple on a table", width=w, height=h,
                                      steps=engine.default_steps,
                                      guidance_scale=engine.guidance_scale, seed=i)])
        if i:
            bare.append(time.perf_counter() - t0)

    n = args.conversations * args.messages
    print(f"# bench/turn.py — {args.conversations} concurrent conversations × "
          f"{args.messages} messages ({n} requests per bot), {os.cpu_count()} CPUs")
    print()
    print("| bot | ack req/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    labels = {"echo": "bare botbuilder echo bot",
              "easel-nogate": "easel, safety gate off (plain message → rules answer)",
              "easel": "easel, full pipeline (gate checkpoint 1 + rules brain)"}
    for name, label in labels.items():
        rps, lat = results[name]
        print(f"| {label} | {rps:.0f} | {_pct(lat, 0.5):.1f} | {_pct(lat, 0.99):.1f} |")
    for name in ("easel-nogate", "easel"):
        ratio = results[name][0] / results["echo"][0]
        print(f"\nack throughput ratio {labels[name]} / echo: {ratio:.2f}×  (target ≥ 3×)")
    med_bare = statistics.median(bare)
    print(f"\nimage turn ({w}x{h}, {engine.default_steps} steps, demo model, `/imagine --raw`, "
          f"median of {args.image_runs}):")
    print(f"  bare pipeline call:                                        {med_bare * 1000:.0f} ms")
    for label, runs in (("easel, gate off", e2e_nogate), ("easel, full gate (3 checkpoints)", e2e)):
        med = statistics.median(runs)
        print(f"  {label:<34} POST → image at connector: {med * 1000:.0f} ms  "
              f"ratio {med / med_bare:.2f}  (target ≤ 1.10)")
    gate_cost = statistics.median(e2e) / statistics.median(e2e_nogate)
    print(f"  full gate / gate off: {gate_cost:.2f}  (target ≤ 1.05)")


if __name__ == "__main__":
    asyncio.run(main())
