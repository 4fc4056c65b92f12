"""Every public route, fuzzed with hostile bodies: never a 5xx, whatever arrives.

The web chat (POST /api/chat), Teams (POST /api/messages: messages, message-back
submits, card actions and the canvas region card, the compose extension, conversation
updates) and Discord (POST /api/discord/interactions: commands, buttons, modals, the
canvas grid menu and region modal, signed like Discord signs them).
Each well-formed body is mutated field by field, at every depth (tests/support/fuzz.py),
and whole bodies that are not objects at all are sent too.
"""

from __future__ import annotations

import base64
import io
import logging
import struct
import zlib
from collections.abc import Iterable
from typing import Any

import aiohttp
import pytest
from PIL import Image

from tests.bot.test_discord_channel import (  # noqa: F401 (fixtures used by name)
    DiscordApp,
    discord_app,
    fake_discord,
    signing_key,
)
from tests.support.fuzz import RAW_BODIES, encode, mutations
from tests.support.helpers import web_session

# What a 5xx would hide: each case by name, so a failure says which shape broke what.
Cases = Iterable[tuple[str, bytes]]


def _crashes(caplog: pytest.LogCaptureFixture, since: int) -> list[str]:
    """Errors logged with a traceback since record `since`: a handler that crashed and was
    caught ("turn failed", "invoke failed") is a bug too, even when the answer is polite."""
    return [f"{r.getMessage()[:60]}: {r.exc_info[1]!r}"[:300]
            for r in caplog.records[since:] if r.levelno >= logging.ERROR and r.exc_info]


async def _post_all(session: aiohttp.ClientSession, url: str, cases: Cases,
                    caplog: pytest.LogCaptureFixture,
                    headers: dict[str, str] | None = None) -> list[tuple[str, Any]]:
    """POST every case; the (case, what went wrong) of those answered 5xx or that logged
    a crash. A 2xx answer is read to the end (the web chat streams it), so a failure
    half-way shows too."""
    failed: list[tuple[str, Any]] = []
    for name, body in cases:
        since = len(caplog.records)
        async with session.post(url, data=body, headers={
                "Content-Type": "application/json", **(headers or {})}) as resp:
            await resp.read()
            if resp.status >= 500:
                failed.append((name, resp.status))
        if crashes := _crashes(caplog, since):
            failed.append((name, crashes))
    return failed


# ---- the web chat ------------------------------------------------------------------------
# Charsets Python does not know, text codecs that are not text, and ones the body is not in.
WEB_CHARSETS = ["klingon", "utf-16", "utf-32", "latin-1", "rot13", "base64", "utf-7"]


def _image_uris() -> Cases:
    """Pictures no one should be able to send: other formats, a bomb, damage, no data."""
    def uri(data: bytes, kind: str = "png") -> str:
        return f"data:image/{kind};base64," + base64.b64encode(data).decode()

    def saved(fmt: str) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (64, 64), (9, 9, 9)).save(buf, format=fmt)
        return buf.getvalue()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data))
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2,
                                                            0, 0, 0)) + chunk(b"IEND", b"")
    images = {"gif": uri(saved("GIF"), "gif"), "bmp": uri(saved("BMP"), "bmp"),
              "tiff-as-png": uri(saved("TIFF")), "bomb": uri(bomb),
              "truncated": uri(saved("PNG")[:60]), "empty": "data:image/png;base64,",
              "not-base64": "data:image/png;base64,%%%", "html": "data:text/html,<b>",
              "too-big": uri(b"\0" * (4 * 1024 * 1024)), "url": "https://example.com/x.png"}
    return [(name, encode({"text": "make it blue", "image": value}))
            for name, value in images.items()]


@pytest.mark.parametrize("shape", ["raw", "fields", "charsets", "images"])
async def test_web_chat_never_answers_5xx(app_factory, settings_factory, caplog, shape):
    running = await app_factory(settings_factory())
    url = running.url + "/api/chat"
    base = {"text": "hello", "reference": "g1", "image": None}
    async with web_session() as s:
        await (await s.get(running.url + "/")).release()
        if shape == "raw":
            failed = await _post_all(s, url, RAW_BODIES, caplog)
        elif shape == "fields":
            failed = await _post_all(s, url, mutations(base), caplog)
        elif shape == "images":
            failed = await _post_all(s, url, _image_uris(), caplog)
        else:
            failed = []
            for charset in WEB_CHARSETS:
                failed += await _post_all(s, url, [(charset, encode(base))], caplog, {
                    "Content-Type": f"application/json; charset={charset}"})
    await running.settled()
    assert not failed, "\n".join(map(str, failed))


# ---- Teams -------------------------------------------------------------------------------
def _teams_bodies(shape: str, make: Any) -> Cases:
    def invoke(name: str, value: dict[str, Any]) -> dict[str, Any]:
        act = make("", name=name, value=value)
        act["type"] = "invoke"
        return act

    # The answer goes to serviceUrl, so it stays the loopback fake connector's.
    keep = ("serviceUrl",)
    if shape == "raw":
        return RAW_BODIES
    if shape == "message":
        return mutations(make("hello", entities=[
            {"type": "mention", "text": "<at>easel</at>",
             "mentioned": {"id": "28:easel-bot", "name": "easel"}}]), skip=keep)
    if shape == "message-back":
        return mutations(make("", value={"easel": "pick", "generation_id": "g1", "index": 2}),
                         skip=keep)
    if shape == "card-action":
        return mutations(invoke("adaptiveCard/action", {"action": {
            "type": "Action.Execute", "verb": "edit",
            "data": {"easel": "edit", "generation_id": "g1", "index": 1,
                     "instruction": "make it blue"}}}), skip=keep)
    if shape == "region-card":  # the canvas Region… card: toggles and instruction merged in
        return mutations(invoke("adaptiveCard/action", {"action": {
            "type": "Action.Execute", "verb": "region",
            "data": {"easel": "region", "generation_id": "g1", "index": 1, "cell1": "true",
                     "cell2": "false", "region_picture": "1",
                     "region_instruction": "a red kite"}}}), skip=keep)
    if shape == "compose":
        return mutations(invoke("composeExtension/submitAction", {
            "commandId": "createImage",
            "data": {"easel": "create", "prompt": "hi", "size": "256x256", "count": 1}}),
            skip=keep)
    if shape == "conversation-update":
        act = make("", membersAdded=[{"id": "28:easel-bot", "name": "easel"}])
        act["type"] = "conversationUpdate"
        return mutations(act, skip=keep)
    raise AssertionError(shape)


@pytest.mark.parametrize("shape", ["raw", "charsets", "message", "message-back", "card-action",
                                   "region-card", "compose", "conversation-update"])
async def test_teams_never_answers_5xx(app_factory, settings_factory, connector,
                                       activity_factory, caplog, shape):
    running = await app_factory(settings_factory())  # no app id: no auth, as in tests
    from bot.app.server import TEAMS_BOT

    running.app[TEAMS_BOT].compose.wait_s = 0.0  # answer "still working" at once
    url = running.url + "/api/messages"
    async with aiohttp.ClientSession() as s:
        if shape == "charsets":
            failed = []
            for charset in WEB_CHARSETS:
                failed += await _post_all(s, url, [(charset, encode(activity_factory("hi")))],
                                          caplog, {"Content-Type":
                                                   f"application/json; charset={charset}"})
        else:
            failed = await _post_all(s, url, _teams_bodies(shape, activity_factory), caplog)
    await running.settled()
    assert not failed, "\n".join(map(str, failed))


# ---- Discord -----------------------------------------------------------------------------
def _discord_bodies(shape: str, d: DiscordApp) -> Cases:
    if shape == "raw":
        return RAW_BODIES
    if shape == "command":
        return mutations(d.command("imagine", prompt="hello", n=1, raw=True))
    if shape == "button":
        return mutations(d.interaction(3, {"custom_id": "easel:v:g1:2", "component_type": 2}))
    if shape == "modal":
        return mutations(d.interaction(5, {"custom_id": "easel:m:g1", "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "instruction",
                                        "value": "make it night"},
                                       {"type": 4, "custom_id": "image", "value": "1"}]}]}))
    if shape == "region-menu":  # the Vary (Region) grid menu: a string select
        return mutations(d.interaction(3, {"custom_id": "easel:s:g1:1", "component_type": 3,
                                           "values": ["1", "5"]}))
    if shape == "region-modal":
        return mutations(d.interaction(5, {"custom_id": "easel:y:g1:1:15", "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "instruction",
                                        "value": "a red kite"}]}]}))
    raise AssertionError(shape)


@pytest.mark.parametrize("shape", ["raw", "command", "button", "modal", "region-menu",
                                   "region-modal"])
async def test_discord_never_answers_5xx(discord_app: DiscordApp, caplog,  # noqa: F811
                                         shape):
    d = discord_app
    failed: list[tuple[str, Any]] = []
    for name, body in _discord_bodies(shape, d):
        since = len(caplog.records)
        status, _ = await d.post(body)
        if status >= 500:
            failed.append((name, status))
        if crashes := _crashes(caplog, since):
            failed.append((name, crashes))
    from tests.support.helpers import drain

    # The deliveries the accepted cases started, not the app's forever tasks.
    await drain(d.services.tasks, keep=frozenset(
        t for t in d.services.tasks.snapshot() if not t.get_name().startswith("discord-")))
    assert not failed, "\n".join(map(str, failed))
