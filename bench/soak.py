"""Soak: mixed web-chat traffic against the real easel app, with a Redis restart at half time.

Starts its own redis-server (tests/support/redis_server.py) and `easel serve` (demo model,
images in Redis, a temporary data dir) in a subprocess whose RSS it reads from /proc. Each
user (a chat cookie) chats, asks for pictures (/imagine, plain words), edits them, uploads a
PNG with an instruction, fetches its pictures and its history, and now and then /forgets.
At half time Redis is killed for --outage-s seconds and started again, empty, on the same port.

An image request is "delivered" when its stream ends with the picture, "told why" when it
ends with a message that says something (error, limited, refusal, words), else "lost" (the
stream stops after "🎨 Working on…", breaks, times out, or a 5xx says nothing). 503 is
easel's deliberate outage answer: counted apart; the target-0 figure is the other 5xx. A
delivered picture that answers 404 while the history still shows it has "vanished" (target
0); one trimmed from the history (HISTORY_LIMIT) or kept by the old Redis may be gone.

Usage: python -m bench.soak [--minutes 10] [--users 8] [--outage-s 10] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import logging
import os
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image, ImageDraw

from bot.state.conversations import HISTORY_LIMIT
from tests.support.easel_process import EaselProcess
from tests.support.helpers import web_session
from tests.support.redis_server import RedisServer

log = logging.getLogger("bench.soak")
TIMEOUT = aiohttp.ClientTimeout(total=180)
GRACE_S = 5.0  # after Redis is back: redis-py reconnects on the next command
IMAGE_KINDS = ("imagine", "words", "edit", "upload")
MIX = {"chat": 18, "imagine": 14, "words": 10, "edit": 12, "upload": 8, "image_get": 16,
       "history": 10, "forget": 2}
THINGS = ["red ball", "blue boat", "yellow sun", "green tree", "purple house", "orange cat",
          "white cloud", "black car", "pink flower", "brown dog"]
PLACES = ["on grass", "at sea", "in the sky", "at night", "on a plain background"]
WORDS = ["draw a {t} {p}", "can you make a picture of a {t} {p}?", "I'd like an image of a {t} {p}"]
EDITS = ["make it darker", "make it brighter", "now make it blue", "make it look like night"]


@dataclass
class Clock:
    start: float = field(default_factory=time.monotonic)
    stop_at: float | None = None  # Redis killed
    back_at: float | None = None  # Redis accepting connections again

    def in_outage(self, t0: float, t1: float) -> bool:
        """Whether [t0, t1] overlaps the outage (plus the reconnect grace)."""
        if self.stop_at is None:
            return False
        end = (self.back_at or t1) + GRACE_S
        return t0 <= end and t1 >= self.stop_at


@dataclass
class Stats:
    by_kind: Counter[str] = field(default_factory=Counter)
    outcome: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, 2xx/4xx/...)
    images: Counter[str] = field(default_factory=Counter)
    told: Counter[str] = field(default_factory=Counter)
    told_text: dict[str, str] = field(default_factory=dict)  # one example per reply kind
    gets: Counter[str] = field(default_factory=Counter)
    s503: Counter[str] = field(default_factory=Counter)
    other_5xx: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    chat_s: list[float] = field(default_factory=list)
    image_s: list[float] = field(default_factory=list)


def _png(rng: random.Random) -> bytes:
    img = Image.new("RGB", (96, 96), tuple(rng.randrange(256) for _ in range(3)))
    ImageDraw.Draw(img).ellipse((20, 20, 76, 76), fill=tuple(rng.randrange(256) for _ in "rgb"))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


async def _chat(s: aiohttp.ClientSession, url: str, text: str, image: bytes | None = None
                ) -> tuple[int, list[dict[str, Any]], str]:
    """One turn: (status, NDJSON events, body when it was not a stream)."""
    body: dict[str, Any] = {"text": text}
    if image is not None:
        body["image"] = "data:image/png;base64," + base64.b64encode(image).decode()
    async with s.post(url + "/api/chat", json=body, timeout=TIMEOUT) as r:
        data = await r.read()  # a cut chunked stream raises here (aiohttp.ClientPayloadError)
        if r.status != 200 or r.content_type != "application/x-ndjson":
            return r.status, [], data.decode(errors="replace")[:200]
        return 200, [json.loads(line) for line in data.splitlines() if line.strip()], ""


def _verdict(status: int, events: list[dict[str, Any]], body: str) -> tuple[str, str]:
    """('delivered' | 'told' | 'lost', detail) for an image request's answer."""
    if status != 200:
        clear = status < 500 or ("unavailable" in body and status == 503)
        return ("told", f"http {status}") if clear else ("lost", f"http {status}: {body[:80]}")
    messages = [e.get("reply") or {} for e in events if e.get("type") == "message"]
    if not messages:
        return "lost", f"stream of {len(events)} events without a message"
    kind, text, images = messages[-1].get("kind"), messages[-1].get("text") or "", \
        messages[-1].get("images")
    if kind == "images" and images:
        return "delivered", images[0]["url"]
    if kind != "images" and text and not text.startswith("🎨"):
        return "told", f"{kind}: {text[:90]}"
    return "lost", f"stream ended after {kind}: {text[:60]!r}"


class User:
    def __init__(self, n: int, url: str, stats: Stats, clock: Clock, seed: int) -> None:
        self.n, self.url, self.stats, self.clock = n, url, stats, clock
        self.rng = random.Random(seed * 1000 + n)
        self.pictures: list[tuple[str, float]] = []  # (/images/id, when its turn started)

    def _status(self, kind: str, status: int, t0: float, note: str = "") -> None:
        t1 = time.monotonic()
        self.stats.outcome[(kind, f"{status // 100}xx" if status != 503 else "503")] += 1
        if status == 503:
            self.stats.s503["outage" if self.clock.in_outage(t0, t1) else "outside"] += 1
        elif status >= 500:
            self.stats.other_5xx.append(f"{kind} {status} at {t1 - self.clock.start:.0f}s {note}")
            log.error("user %d: %s answered %d: %s", self.n, kind, status, note[:200])

    async def run(self, end: float) -> None:
        async with web_session() as s:
            await (await s.get(self.url + "/")).release()  # the chat cookie
            while time.monotonic() < end:
                kind = self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
                if kind == "image_get" and not self.pictures:
                    kind = "history"
                self.stats.by_kind[kind] += 1
                t0 = time.monotonic()
                try:
                    await self._one(s, kind, t0)
                except (aiohttp.ClientError, TimeoutError, ValueError) as exc:  # cut, late, garbled
                    problem = f"{type(exc).__name__}: {exc}"
                    self.stats.outcome[(kind, "broken")] += 1
                    if kind in IMAGE_KINDS:
                        self.stats.images.update(("asked", "lost"))
                        self.stats.lost.append(f"{kind}: {problem}")
                    log.error("user %d: %s broke after %.1fs: %s", self.n, kind,
                              time.monotonic() - t0, problem)
                await asyncio.sleep(self.rng.uniform(0.2, 1.5))

    async def _why_404(self, s: aiohttp.ClientSession, path: str) -> str:
        """A 404 is by design once the record trimmed the picture (HISTORY_LIMIT generations,
        uploads included): "vanished" only while the history still shows it."""
        async with s.get(self.url + "/api/chat/history", timeout=TIMEOUT) as r:
            if r.status != 200:
                return f"404, history {r.status}"
            shown = {im["url"] for e in (await r.json())["entries"] for im in e["reply"]["images"]}
        return "vanished" if path in shown else "trimmed from the history"

    async def _one(self, s: aiohttp.ClientSession, kind: str, t0: float) -> None:
        rng, url = self.rng, self.url
        if kind in ("image_get", "history"):
            path, started = (rng.choice(self.pictures) if kind == "image_get"
                             else ("/api/chat/history", 0.0))
            async with s.get(url + path, timeout=TIMEOUT) as r:
                data = await r.read()
            self._status(kind, r.status, t0, data[:100].decode(errors="replace"))
            if kind == "image_get" and r.status in (200, 404):
                gone = self.clock.stop_at is not None and started < self.clock.stop_at
                got = ("ok" if data[:4] == b"\x89PNG" or data[:3] == b"\xff\xd8\xff" else
                       "not an image") if r.status == 200 else \
                    "gone with the old Redis" if gone else await self._why_404(s, path)
                self.stats.gets[got] += 1
                if got in ("not an image", "vanished"):
                    log.error("user %d: delivered picture %s: %s", self.n, path, got)
            return
        t = rng.choice(THINGS)
        text, image = {
            "chat": ("what can you do?", None),
            "imagine": (f"/imagine a {t} {rng.choice(PLACES)}", None),
            "words": (rng.choice(WORDS).format(t=t, p=rng.choice(PLACES)), None),
            "edit": (rng.choice(EDITS), None),
            "upload": (rng.choice(EDITS), _png(rng)),
            "forget": ("/forget", None),
        }[kind]
        status, events, body = await _chat(s, url, text, image)
        elapsed = time.monotonic() - t0
        self._status(kind, status, t0, body)
        if kind == "forget":
            self.pictures.clear()
        if kind == "chat" and status == 200:
            self.stats.chat_s.append(elapsed)
        if kind not in IMAGE_KINDS:
            return
        self.stats.images["asked"] += 1
        outcome, detail = _verdict(status, events, body)
        self.stats.images[outcome] += 1
        if outcome == "delivered":
            self.pictures.append((detail, t0))
            del self.pictures[:-HISTORY_LIMIT]  # older ones are trimmed (and deleted) by design
            self.stats.image_s.append(elapsed)
        elif outcome == "told":
            reply_kind = detail.split(":")[0]
            self.stats.told[reply_kind] += 1
            self.stats.told_text.setdefault(reply_kind, detail)
        else:
            self.stats.lost.append(f"{kind} {text!r}: {detail}")
            log.error("user %d: picture lost: %s %r: %s", self.n, kind, text, detail)


def _pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))] * 1000 if v else float("nan")


async def _outage(redis: RedisServer, easel: EaselProcess, clock: Clock, at: float,
                  down_s: float) -> None:
    await asyncio.sleep(max(0.0, at - time.monotonic()))
    log.warning("stopping Redis (port %d) for %.0f s", redis.port, down_s)
    clock.stop_at = time.monotonic()
    await redis.stop()
    await asyncio.sleep(down_s)
    await redis.start()
    clock.back_at = time.monotonic()
    log.warning("Redis is back; easel ready again %.1f s later", await easel.ready(60))


async def main(minutes: float, users: int, outage_s: float, seed: int) -> int:
    redis = RedisServer()
    await redis.start()
    easel = EaselProcess({"EASEL_REDIS_URL": redis.url, "EASEL_IMAGE_STORE": "redis",
                          "EASEL_WEB_CHAT": "on"})
    stats, rss = Stats(), {}
    try:
        easel.start()
        await easel.ready()
        rss["start"] = easel.rss_mb()
        clock, duration = Clock(), minutes * 60
        log.info("easel ready on %s (RSS %.0f MB); %d users for %.1f min", easel.url,
                 rss["start"], users, minutes)
        warm = asyncio.create_task(asyncio.sleep(min(60.0, duration * 0.2)))
        outage = asyncio.create_task(_outage(redis, easel, clock, clock.start + duration / 2,
                                             outage_s))
        crowd = asyncio.gather(*(User(n, easel.url, stats, clock, seed).run(
            clock.start + duration) for n in range(users)))
        await warm
        rss["after warm-up"] = easel.rss_mb()
        await crowd
        await outage
        elapsed = time.monotonic() - clock.start
        rss["end"] = easel.rss_mb()
        alive = easel.process is not None and easel.process.poll() is None
    finally:
        easel.stop()
        await redis.stop()
    return _report(stats, rss, elapsed, users, outage_s, easel.log_path, alive)


def _report(st: Stats, rss: dict[str, float], elapsed: float, users: int, outage_s: float,
            server_log: Path, alive: bool) -> int:
    img, vanished = st.images, st.gets["vanished"] + st.gets["not an image"]
    ok = not st.other_5xx and img["lost"] == 0 and vanished == 0 and alive

    def counts(c: Counter[Any]) -> str:
        return ", ".join(f"{k} {v}" for k, v in c.most_common()) or "-"

    not_ok = Counter({f"{k} {o}": v for (k, o), v in st.outcome.items() if o != "2xx"})
    rows = [
        ("duration", f"{elapsed / 60:.1f} min, {users} users, Redis killed for {outage_s:.0f} s "
                     f"at half time, {os.cpu_count()} CPUs"),
        ("requests by kind", f"{sum(st.by_kind.values())}: " + counts(st.by_kind)),
        ("answers other than 2xx", counts(not_ok)),
        ("images asked / delivered / told why / lost",
         f"{img['asked']} / {img['delivered']} / {img['told']} / {img['lost']}"),
        ("told why, by reply kind", counts(st.told)),
        ("fetches of delivered pictures", counts(st.gets)),
        ("5xx other than 503 (target 0)", str(len(st.other_5xx))),
        ("503 (easel's outage answer, not in the target)",
         f"{st.s503['outage']} during the outage, {st.s503['outside']} outside it"),
        ("RSS of easel, MB", ", ".join(f"{k} {v:.0f}" for k, v in rss.items())),
        ("chat answer p50 / p95", f"{_pct(st.chat_s, 0.5):.0f} / {_pct(st.chat_s, 0.95):.0f} ms"
                                  f" (n={len(st.chat_s)})"),
        ("delivered image turn p50 / p95", f"{_pct(st.image_s, 0.5):.0f} / "
                                           f"{_pct(st.image_s, 0.95):.0f} ms"),
        ("verdict", f"{'PASS' if ok else 'FAIL'}: non-503 5xx {len(st.other_5xx)}, lost "
                    f"{img['lost']}, vanished {vanished} (targets 0), easel "
                    f"{'still running' if alive else 'DIED'}"),
    ]
    print("\n# bench/soak.py (web chat, demo model, images in Redis)\n\n| figure | value |"
          "\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print()
    for example in st.told_text.values():
        print(f"told why, e.g. {example!r}")
    for line in (st.other_5xx + st.lost)[:10]:
        print("  !", line)
    text = server_log.read_text(errors="replace").partition("easel is ready")[2]
    lines = Counter(re.sub(r"\d+", "N", re.sub(r"(/images/|job )[\w-]{8,}", r"\1ID", m))[:120]
                    for m in re.findall(r"^\S+ \S+ ((?:WARNING|ERROR|CRITICAL) .*)$", text, re.M))
    levels = Counter({m.split()[0]: 0 for m in lines})
    for m, n in lines.items():
        levels[m.split()[0]] += n
    print(f"easel's log after start-up ({server_log}): {text.count('Traceback')} tracebacks, "
          f"{counts(levels)}; most frequent:")
    for msg, n in lines.most_common(8):
        print(f"  {n:>5} × {msg}")
    return 0 if ok else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--outage-s", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    sys.exit(asyncio.run(main(a.minutes, a.users, a.outage_s, a.seed)))
