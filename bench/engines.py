"""Remote engines: easel's own cost per remote image, and how concurrency scales.

A loopback OpenAI Images API (tests/support/fake_images_api.py, the real wire format) answers
after a fixed latency. Two figures:
1. Overhead: a full `/imagine --raw` turn through the assistant (gate 1 and 2, the tool,
   the fair queue, the HTTP call, decoding, gate 3, watermark and C2PA, storing),
   sequentially, minus the fake's own latency; side by side with the gate off, with the
   gate off and no provenance ("unmarked", a comparison only: easel always marks), and
   with the adapter alone (`agenerate` only). Per image size, since decoding and storing scale with pixels.
2. Scaling: 16 users each ask for one image at once; images per second with
   `max_concurrency` 1, 2, 4, 8, against the ideal (max_concurrency / latency).

Usage: python -m bench.engines [--latency 0.2] [--turns 30]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

from bot.app.services import build_services  # noqa: E402
from bot.app.settings import load_settings  # noqa: E402
from bot.turn import Turn  # noqa: E402
from imaging.engine import ImageRequest  # noqa: E402
from imaging.engines.config import parse_engines  # noqa: E402
from imaging.engines.registry import build_engines  # noqa: E402
from safety.gate import SafetyGate  # noqa: E402
from tests.support.fake_images_api import KEY, images_api  # noqa: E402


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


def _engines(url: str, model: str, concurrency: int):
    file = parse_engines({"engine": [{"name": "remote", "kind": "openai",
                                      "base_url": f"{url}/v1", "model": model,
                                      "api_key_env": "K", "max_concurrency": concurrency}]},
                         {"K": KEY})
    return build_engines(file, lambda spec: None)  # type: ignore[arg-type, return-value]


async def _turn(assistant, user: str, text: str) -> float:
    t0 = time.perf_counter()
    response = await assistant.respond(Turn("web", f"c-{user}", user, text))
    assert response.followup is not None, response.immediate
    reply = await response.followup(None)
    assert reply.kind.value == "images", reply.text
    return time.perf_counter() - t0


async def overhead(latency: float, turns: int, gate, data: Path) -> list[tuple]:
    rows = []
    for model, size in (("dall-e-2", 256), ("dall-e-2", 512), ("gpt-image-1", 1024)):
        async with images_api(latency_s=latency, textured=True) as fake:
            engines = _engines(fake.url, model, 4)
            adapter = engines.default.engine
            req = ImageRequest("a red fox", width=size, height=size)
            await adapter.agenerate([req])  # warm: connection pool, codecs
            bare = []
            for _ in range(turns):
                t0 = time.perf_counter()
                await adapter.agenerate([req])
                bare.append(time.perf_counter() - t0 - latency)
            for label, g in (("full turn, gate on", gate),
                             ("full turn, gate off", SafetyGate.disabled()),
                             ("gate off, unmarked", SafetyGate.disabled())):
                settings = load_settings(data_dir=data / f"{model}-{size}-{label[-4:]}")
                svc = build_services(settings, engines, gate=g)
                if label.endswith("unmarked"):  # what provenance costs, for comparison
                    svc.tools.get("generate_image").stamp = None  # type: ignore[attr-defined]
                await _turn(svc.assistant, "warm", "/imagine --raw a red fox")
                # The same words each time: the fake's (cached) picture costs it nothing.
                times = [await _turn(svc.assistant, "u", "/imagine --raw a red fox") - latency
                         for _ in range(turns)]
                await svc.runner.close()
                rows.append((f"{model} {size}px", label, times))
            rows.append((f"{model} {size}px", "adapter alone", bare))
            await engines.aclose()
    return rows


async def scaling(latency: float, users: int, data: Path) -> list[tuple[int, float, float]]:
    out = []
    for concurrency in (1, 2, 4, 8):
        async with images_api(latency_s=latency, textured=True) as fake:
            engines = _engines(fake.url, "dall-e-2", concurrency)
            settings = load_settings(data_dir=data / f"scale-{concurrency}",
                                     quota_concurrent_jobs=0)
            svc = build_services(settings, engines, gate=SafetyGate.disabled())
            await _turn(svc.assistant, "warm", "/imagine --raw a kite")
            t0 = time.perf_counter()
            await asyncio.gather(*(_turn(svc.assistant, f"user{i}", "/imagine --raw a kite")
                                   for i in range(users)))
            wall = time.perf_counter() - t0
            await svc.runner.close()
            await engines.aclose()
        out.append((concurrency, users / wall, concurrency / latency))
    return out


async def main(latency: float, turns: int, users: int) -> None:
    from safety.config import GateConfig
    from safety.factory import build_gate

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        gate = build_gate(GateConfig(audit_path=data / "audit.jsonl", encoder_threads=1))
        await gate.warm_up()
        print(f"easel's overhead per remote image (end to end minus the fake's {latency * 1000:.0f}"
              f" ms), {turns} sequential turns each:")
        print(f"  {'engine, size':<22} {'path':<22} {'p50 ms':>8} {'p90 ms':>8}")
        for what, path, times in await overhead(latency, turns, gate, data):
            print(f"  {what:<22} {path:<22} {statistics.median(times) * 1000:8.1f} "
                  f"{_pct(times, 0.9) * 1000:8.1f}")
        print(f"\nconcurrency scaling: {users} users, one image each, fake latency "
              f"{latency * 1000:.0f} ms (gate off: this measures the queue and the adapter)")
        print(f"  {'max_concurrency':>15} {'images/s':>9} {'ideal':>7} {'of ideal':>9}")
        for c, rate, ideal in await scaling(latency, users, data):
            print(f"  {c:>15} {rate:9.2f} {ideal:7.2f} {rate / ideal:9.0%}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("safety.gate").setLevel(logging.CRITICAL + 1)  # "gate off" is on purpose
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--turns", type=int, default=30)
    ap.add_argument("--users", type=int, default=16)
    a = ap.parse_args()
    asyncio.run(main(a.latency, a.turns, a.users))
