"""Shared test helpers: reading what easel sends to Teams (Adaptive Card results), talking
to a running app, waiting for its background work, and a fake OpenAI-compatible LLM."""

from __future__ import annotations

import asyncio
import base64
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from PIL import Image

CARD = "application/vnd.microsoft.card.adaptive"


def card(activity: dict[str, Any]) -> dict[str, Any]:
    for att in activity.get("attachments") or []:
        if att.get("contentType") == CARD:
            return att["content"]
    raise AssertionError(f"no adaptive card in {activity.get('text')!r}")


def walk(node: Any):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def card_images(activity: dict[str, Any]) -> list[str]:
    return [n["url"] for n in walk(card(activity)) if n.get("type") == "Image"]


def card_prompt(activity: dict[str, Any]) -> str:
    for n in walk(card(activity)):
        if n.get("id") == "prompt":
            return n["items"][0]["text"]
    raise AssertionError("no prompt section")


def card_seeds(activity: dict[str, Any]) -> list[int]:
    for n in walk(card(activity)):
        if n.get("type") == "TextBlock" and str(n.get("text", "")).startswith("seed "):
            return [int(s) for s in re.findall(r"\d+", n["text"].split("·")[0])]
    raise AssertionError("no seed line")


def card_actions(activity: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in walk(card(activity)) if str(n.get("type", "")).startswith("Action.")]


def decode(url: str) -> Image.Image:
    assert url.startswith("data:image/"), url[:40]
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    img.load()
    return img


def is_result(activity: dict[str, Any]) -> bool:
    return any(a.get("contentType") == CARD for a in activity.get("attachments") or []) and \
        bool(card_images(activity))


# ---- talking to a running app over the Bot Framework wire ------------------------------------
async def post_activity(url: str, body: Any, headers: dict[str, str] | None = None
                        ) -> tuple[int, Any]:
    """POST one activity (a dict, or raw bytes/str sent as JSON) to /api/messages; returns
    the status and the JSON answer (None when the answer is not JSON)."""
    import aiohttp

    async with aiohttp.ClientSession() as s:
        if isinstance(body, (bytes, str)):
            req = s.post(url + "/api/messages", data=body,
                         headers={"Content-Type": "application/json", **(headers or {})})
        else:
            req = s.post(url + "/api/messages", json=body, headers=headers or {})
        async with req as resp:
            answer = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, answer


async def say(url: str, activity: dict[str, Any]) -> None:
    """Send a user's message; the bot must accept it (200/201)."""
    status, answer = await post_activity(url, activity)
    assert status in (200, 201), (status, answer)


def images(connector) -> list[dict[str, Any]]:
    """The result cards (with images) the bot sent so far, in order."""
    return [a for a in connector.received if is_result(a)]


async def next_image(connector, seen: int, timeout: float = 90.0) -> dict[str, Any]:
    """The result card after the first `seen` ones, once it arrives."""
    await connector.wait_for(lambda a: len(images(connector)) > seen, timeout=timeout)
    return images(connector)[seen]


# ---- background work ---------------------------------------------------------------------------
async def drain(tasks, keep: frozenset = frozenset(), timeout: float = 90.0) -> None:
    """Wait until every task in the app's `BackgroundTasks` has finished, except those in
    `keep` (the app's own forever tasks, e.g. the image purge), including tasks spawned by
    the ones being waited for. After this, nothing a turn started can still send anything.

    `BackgroundTasks.wait_idle` would also wait for the forever tasks, which never end
    while the app runs; hence `keep`."""

    async def loop() -> None:
        while busy := [t for t in tasks.snapshot() if t not in keep]:
            await asyncio.wait(busy)

    await asyncio.wait_for(loop(), timeout)


# ---- a fake OpenAI-compatible LLM behind the rewriter ------------------------------------------
@asynccontextmanager
async def fake_llm(message: dict[str, Any] | None = None, **server: Any) -> AsyncIterator[Any]:
    """An OpenAI-compatible chat server on loopback answering `message`, and the brain easel
    builds for it (OpenAI backend, rules as the fallback). Yields (server, brain)."""
    from bot.llm.fallback import FallbackBrain
    from bot.llm.openai_compat import OpenAIBrain
    from bot.llm.rules import RulesBrain
    from tests.support.llm_fakes import FakeChatServer

    fake = FakeChatServer(**({"message": message} if message is not None else {}), **server)
    async with fake.running() as base_url:
        yield fake, FallbackBrain(OpenAIBrain(base_url, None, "tiny", timeout_s=2, retries=0),
                                  RulesBrain())


# ---- the web chat --------------------------------------------------------------------------
def web_session():
    """A client for the web chat. aiohttp's default jar ignores cookies from IP hosts such
    as 127.0.0.1, and the chat's conversation lives in its cookie."""
    import aiohttp

    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def web_chat(s, url: str, text: str, *, reference: str | None = None,
                   image: bytes | None = None, mask: bytes | None = None
                   ) -> list[dict[str, Any]]:
    """One web-chat turn (optionally with a picture, or a mask drawn over the referenced
    one): every NDJSON event it streamed."""
    import json

    body: dict[str, Any] = {"text": text, "reference": reference}
    for name, data in (("image", image), ("mask", mask)):
        if data is not None:
            kind = "jpeg" if data[:2] == b"\xff\xd8" else "png"
            body[name] = f"data:image/{kind};base64," + base64.b64encode(data).decode()
    async with s.post(url + "/api/chat", json=body) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "application/x-ndjson"
        return [json.loads(line) async for line in resp.content if line.strip()]


def final_reply(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The turn's last message: the reply that stays on the page."""
    return [e for e in events if e["type"] == "message"][-1]["reply"]


class FlagBrightest:
    """An operator's extra image checker: flags the brightest image of a batch."""

    async def classify(self, images):
        import numpy as np

        from safety.policy import Category, Verdict

        means = [float(np.asarray(im.convert("L")).mean()) for im in images]
        top = int(np.argmax(means))
        return [Verdict(allowed=i != top, category=Category.VIOLENCE if i == top else None,
                        scores={"violence": 1.0 if i == top else 0.0})
                for i in range(len(images))]


@asynccontextmanager
async def serve_app(settings: Any, engine: Any, gate: Any) -> AsyncIterator[tuple[str, Any]]:
    """The real app with its own services on loopback: (base url, services)."""
    from aiohttp.test_utils import TestServer

    from bot.app.server import create_app
    from bot.app.services import build_services

    services = build_services(settings, engine, gate=gate)
    server = TestServer(create_app(settings, services), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), services
    finally:
        await server.close()
