"""Discord interactions benchmark: acknowledgement latency and image end-to-end time.

Runs, in one go on this machine:
1. `easel` (create_app + the Discord route) in its own process, answering signed
   interactions; Discord's API is faked on loopback in this process and records when the
   image arrives (the multipart PATCH of the original response).
2. Acknowledgement latency: ROUNDS rounds of C concurrent signed `/imagine` requests
   (each answered with a deferred type-5 response; the generations they start run while
   later requests of the round are being acknowledged), then the same for `/help`
   (answered inline, ephemeral). Reported: p50 / p99 / max.
3. An image turn end to end (POST → deferral → generation → PATCH with the image at the
   fake API) against a bare pipeline call on the same demo model and settings in this
   process, alternating run by run, median of R runs.

Usage: python -m bench.discord [--concurrency 20] [--rounds 2] [--image-runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
APP_ID = "1187001185010651136"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeDiscord:
    """Records when each interaction's images arrive; answers like Discord (briefly)."""

    def __init__(self) -> None:
        self.delivered: dict[str, float] = {}
        self._waiters: dict[str, asyncio.Future[float]] = {}

    async def edit(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        if request.content_type == "multipart/form-data":
            await request.read()
            now = time.perf_counter()
            self.delivered[token] = now
            fut = self._waiters.pop(token, None)
            if fut is not None and not fut.done():
                fut.set_result(now)
        else:
            await request.read()
        return web.json_response({"id": "1", "type": 20, "content": "", "attachments": [],
                                  "channel_id": "2", "flags": 0, "components": []})

    async def wait(self, token: str, timeout: float = 600) -> float:
        if token in self.delivered:
            return self.delivered[token]
        fut = self._waiters.setdefault(token, asyncio.get_running_loop().create_future())
        return await asyncio.wait_for(fut, timeout)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_patch("/webhooks/{app}/{token}/messages/@original", self.edit)
        return app


def _interaction(n: int, name: str, options: dict[str, object]) -> dict[str, object]:
    return {
        "application_id": APP_ID, "type": 2, "version": 1, "id": str(1187200000000000000 + n),
        "token": f"aW50ZXJhY3Rpb246{n}{secrets.token_urlsafe(48)}",
        "guild_id": "1187001377998733342", "channel_id": f"11870013785356{n % 10000:05d}",
        "member": {"user": {"id": f"8035111022467{n % 100000:05d}", "username": "bench"}},
        "data": {"id": "1", "name": name, "type": 1,
                 "options": [{"name": k, "type": 3, "value": v} for k, v in options.items()]},
    }


def _signed(key: Ed25519PrivateKey, ix: dict[str, object]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(ix).encode()
    ts = str(int(time.time()))
    return body, {"Content-Type": "application/json", "X-Signature-Timestamp": ts,
                  "X-Signature-Ed25519": key.sign(ts.encode() + body).hex()}


async def _burst(s: aiohttp.ClientSession, url: str, key: Ed25519PrivateKey, first: int,
                 count: int, name: str, options: dict[str, object]) -> tuple[list[float], list[str]]:
    # Sign everything first: the signing is the client's cost, not the server's.
    reqs = [_interaction(first + i, name, options) for i in range(count)]
    signed = [_signed(key, ix) for ix in reqs]

    async def one(body: bytes, headers: dict[str, str]) -> float:
        t0 = time.perf_counter()
        async with s.post(url + "/api/discord/interactions", data=body, headers=headers) as r:
            answer = await r.json()
            if r.status != 200 or answer.get("type") not in (4, 5):
                raise RuntimeError(f"HTTP {r.status}: {answer}")
        return time.perf_counter() - t0

    latencies = await asyncio.gather(*(one(b, h) for b, h in signed))
    return list(latencies), [str(ix["token"]) for ix in reqs]


def _start(port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    # The server's log goes to a file: a pipe nobody reads could fill up and stall it.
    with log_path.open("wb") as log_file:
        return subprocess.Popen([sys.executable, str(SCRIPT), "--serve", str(port)], env=env,
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log_file)


def _load_engine():  # -> DiffusersEngine
    """The built-in demo model, as easel serves it with EASEL_IMAGE_MODEL unset."""
    from imaging.demo import default_model_dir
    from imaging.engines.diffusers import DiffusersEngine

    return DiffusersEngine.load(str(default_model_dir()), device="cpu")


def _bare_call(engine, seed: int) -> None:
    from imaging.engine import ImageRequest

    w, h = engine.default_size
    engine.generate([ImageRequest("a red apple on a table", width=w, height=h,
                                  steps=engine.default_steps,
                                  guidance_scale=engine.guidance_scale, seed=seed)])


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


async def _wait_ready(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                async with s.get(url + "/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("server did not start")


def serve(port: int) -> None:
    """The server process: easel's app plus the Discord route (a no-op once create_app
    adds the route itself)."""
    import logging

    from bot.app.server import SERVICES, create_app, discord_config
    from bot.app.settings import load_settings
    from bot.channels.discord import DiscordChannel, add_discord_routes

    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    app = create_app(settings)
    config = discord_config(settings)
    add_discord_routes(app, lambda a: DiscordChannel(
        a[SERVICES].assistant, a[SERVICES].store, a[SERVICES].tasks, config))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def run(args: argparse.Namespace) -> None:
    fake = FakeDiscord()
    runner = web.AppRunner(fake.app(), access_log=None)
    await runner.setup()
    fport = _free_port()
    await web.TCPSite(runner, "127.0.0.1", fport).start()

    key = Ed25519PrivateKey.generate()
    data_dir = Path(tempfile.mkdtemp(prefix="easel-bench-discord-"))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("EASEL_", "Microsoft", "DISCORD_"))}
    env.update(HF_HUB_OFFLINE="1", EASEL_DATA_DIR=str(data_dir),
               EASEL_DISCORD_API_BASE=f"http://127.0.0.1:{fport}",
               DISCORD_PUBLIC_KEY=key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex(),
               PYTHONPATH=str(ROOT))
    port = _free_port()
    log_path = data_dir / "server.log"
    proc = _start(port, env, log_path)
    url = f"http://127.0.0.1:{port}"
    acks: dict[str, list[float]] = {"imagine": [], "help": []}
    e2e: list[float] = []
    bare: list[float] = []
    n = 0
    try:
        await _wait_ready(url, proc)
        conn = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=conn) as s:
            # Warm-up: connections, imports, and the engine's first call, which holds the
            # GIL for ~0.5 s on CPU (torch initialisation) and would stall every ack.
            await _burst(s, url, key, n, 2, "help", {})
            t0 = time.perf_counter()
            cold, tokens = await _burst(s, url, key, n + 2, 1, "imagine", {"prompt": "warm-up"})
            cold_image = await fake.wait(tokens[0]) - t0
            n += 3
            for name, options in (("imagine", {"prompt": "a red apple on a table"}),
                                  ("help", {})):
                for _ in range(args.rounds):
                    lat, tokens = await _burst(s, url, key, n, args.concurrency, name, options)
                    n += args.concurrency
                    acks[name] += lat
                    if name == "imagine":  # let the round's images finish before the next
                        await asyncio.gather(*(fake.wait(t) for t in tokens))
            # The baseline: the same demo model, size, steps and guidance, called directly
            # in this process. Runs alternate with easel's, so both see the same machine
            # load (the CPUs here are shared and the load drifts).
            engine = await asyncio.to_thread(_load_engine)
            w, h = engine.default_size
            for i in range(args.image_runs + 1):
                ix = _interaction(n, "imagine", {"prompt": "a red apple on a table", "seed": i})
                n += 1
                body, headers = _signed(key, ix)
                t0 = time.perf_counter()
                async with s.post(url + "/api/discord/interactions", data=body,
                                  headers=headers) as r:
                    await r.read()
                arrived = await fake.wait(str(ix["token"]))
                t1 = time.perf_counter()
                await asyncio.to_thread(_bare_call, engine, i)
                if i:  # the first run warms caches
                    e2e.append(arrived - t0)
                    bare.append(time.perf_counter() - t1)
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        await runner.cleanup()
        if proc.returncode not in (0, -15):
            print(log_path.read_text()[-2000:], file=sys.stderr)

    print(f"# bench/discord.py — {args.concurrency} concurrent signed interactions × "
          f"{args.rounds} rounds, {os.cpu_count()} CPUs")
    print()
    print("| interaction | answer | n | p50 ms | p99 ms | max ms |")
    print("|---|---|---:|---:|---:|---:|")
    for name, answer in (("/imagine", "deferred (type 5)"), ("/help", "inline ephemeral (type 4)")):
        lat = acks[name.lstrip("/")]
        print(f"| {name} | {answer} | {len(lat)} | {_pct(lat, 0.5):.1f} | {_pct(lat, 0.99):.1f} "
              f"| {max(lat) * 1000:.1f} |")
    print(f"\n/imagine ack p99: {_pct(acks['imagine'], 0.99):.1f} ms  (target < 100 ms; "
          "Discord allows 3000 ms)")
    print(f"first /imagine after start (not in the table): ack {cold[0] * 1000:.1f} ms, "
          f"image {cold_image * 1000:.0f} ms")
    med_e2e, med_bare = statistics.median(e2e), statistics.median(bare)
    print(f"\nimage turn ({w}x{h}, {engine.default_steps} steps, demo model, median of "
          f"{args.image_runs}, runs alternating with the bare call):")
    print(f"  easel end-to-end (POST → image PATCHed to Discord): {med_e2e * 1000:.0f} ms")
    print(f"  bare pipeline call:                                  {med_bare * 1000:.0f} ms")
    print(f"  ratio end-to-end / bare: {med_e2e / med_bare:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--image-runs", type=int, default=5)
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve is not None:
        serve(args.serve)  # the server process (runs its own event loop)
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
