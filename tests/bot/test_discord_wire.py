"""Discord pieces without the app: command mapping, custom ids, modals, rendering limits,
the command file, progress throttling, token expiry and retry limits."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.channels.discord_api import (
    DiscordAPI,
    DiscordHTTPError,
    InteractionExpired,
    InteractionToken,
    RetryPolicy,
    redact,
)
from bot.channels.discord_render import buttons, image_content
from bot.channels.discord_wire import (
    ButtonAction,
    WireError,
    button_text,
    command_text,
    custom_id,
    edit_modal,
    modal_text,
    parse_custom_id,
)
from bot.channels.progress import ProgressEditor
from bot.turn import DeliveredImage, Reply, ReplyKind


def _cmd(name: str, **options: Any) -> dict[str, Any]:
    return {"name": name, "type": 1,
            "options": [{"name": k, "type": 3, "value": v} for k, v in options.items()]}


# ---- slash commands -> the Assistant's text ----------------------------------------------
@pytest.mark.parametrize(("name", "options", "text", "private"), [
    ("imagine", {"prompt": "a red fox"}, "/imagine a red fox", False),
    ("imagine", {"prompt": "a  red\nfox", "n": 2, "size": "768x512", "seed": 5},
     "/imagine --n 2 --size 768x512 --seed 5 a red fox", False),
    ("imagine", {"prompt": "a fox", "raw": True}, "/imagine --raw a fox", False),
    ("edit", {"instruction": "make it night"}, "/edit make it night", False),
    ("edit", {"instruction": "make it night", "image": 2}, "/edit 2 make it night", False),
    ("vary", {}, "/vary", False),
    ("vary", {"image": 3}, "/vary 3", False),
    ("undo", {}, "/undo", False),
    ("settings", {}, "/settings", True),
    ("settings", {"raw": True, "n": 2}, "/settings raw=on n=2", True),
    ("settings", {"reset": True, "raw": False, "size": "512x512", "steps": 8},
     "/settings reset raw=off size=512x512 steps=8", True),
    ("edit", {"instruction": "a sunset sky", "image": 2, "region": "0, 0, 1, 0.5"},
     "/edit 2 region=0,0,1,0.5 a sunset sky", False),
    ("zoom", {}, "/zoom 1", False),
    ("zoom", {"factor": "1.5", "image": 3}, "/zoom 3 1.5", False),
    ("pan", {"direction": "left"}, "/pan 1 left", False),
    ("upscale", {"scale": "4x", "mode": "creative", "image": 2}, "/upscale 2 4x creative", False),
    ("help", {}, "/help", True),
    ("history", {}, "/history", True),
    ("forget", {}, "/forget", True),
    ("queue", {}, "/queue", True),
    ("cancel", {}, "/cancel", True),
])
def test_commands_become_assistant_text(name, options, text, private):
    got = command_text(_cmd(name, **options))
    assert (got.text, got.private, got.reference) == (text, private, None)


def test_unknown_command_is_a_wire_error():
    with pytest.raises(WireError):
        command_text(_cmd("frobnicate"))


def _commands_file() -> list[dict[str, Any]]:
    from bot.app.discord_cli import load_commands

    return load_commands()


def test_command_file_is_valid_discord_json_and_fully_mapped():
    commands = _commands_file()
    assert {c["name"] for c in commands} == {"imagine", "edit", "vary", "undo", "settings",
                                             "queue", "cancel", "history", "forget", "help",
                                             "models", "arena", "vote", "zoom", "pan",
                                             "upscale", "describe"}
    samples = {3: "512x512", 4: 3, 5: True}
    for cmd in commands:
        assert re.fullmatch(r"[-_a-z0-9]{1,32}", cmd["name"]) and cmd["type"] == 1
        assert 1 <= len(cmd["description"]) <= 100
        options = cmd.get("options", [])
        assert len(options) <= 25
        required = [o.get("required", False) for o in options]
        assert required == sorted(required, reverse=True), "required options come first"
        for opt in options:
            assert re.fullmatch(r"[-_a-z0-9]{1,32}", opt["name"])
            assert 1 <= len(opt["description"]) <= 100 and opt["type"] in samples
            for choice in opt.get("choices", []):
                assert len(choice["name"]) <= 100
                assert re.fullmatch(r"\d+x\d*|[\d.]+|a|b|tie|bad|left|right|up|down|subtle|creative",
                                    choice["value"])
        # Every option reaches the Assistant's text.
        values = {o["name"]: o["choices"][1]["value"] if o.get("choices") else samples[o["type"]]
                  for o in options}
        data = {"name": cmd["name"], "type": 1,
                "options": [{"name": k, "type": 3, "value": v} for k, v in values.items()]}
        text = command_text(data).text
        for key, value in values.items():
            if isinstance(value, bool):
                assert key in text or "--raw" in text
            else:
                assert str(value) in text, (cmd["name"], key, text)


def test_discord_commands_prints_the_file(capsys):
    from bot.app.discord_cli import cmd_commands

    assert cmd_commands(None) == 0  # type: ignore[arg-type]
    assert json.loads(capsys.readouterr().out) == _commands_file()


def test_register_without_credentials_says_what_to_set(monkeypatch, tmp_path, capsys):
    from bot.app.discord_cli import add_discord_parser

    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    for var in ("DISCORD_APPLICATION_ID", "DISCORD_BOT_TOKEN", "DISCORD_PUBLIC_KEY"):
        monkeypatch.delenv(var, raising=False)
    import argparse

    parser = argparse.ArgumentParser()
    add_discord_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["discord", "register", "--guild", "123"])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert "DISCORD_APPLICATION_ID" in err and "DISCORD_BOT_TOKEN" in err


# ---- buttons and modals -------------------------------------------------------------------
def test_custom_ids_round_trip_and_stay_short():
    gen = "Zq3-_x9" * 4
    assert parse_custom_id(custom_id("v", gen, 4) or "") == ButtonAction("v", gen, 4)
    assert parse_custom_id(custom_id("e", gen) or "") == ButtonAction("e", gen)
    assert parse_custom_id("easel:v:a:b:2") == ButtonAction("v", "a:b", 2)
    assert custom_id("v", "x" * 95, 1) is None
    for bad in ("", "other:v:x:1", "easel:z:x", "easel:v:x", "easel:v::1", "easel:r:"):
        with pytest.raises(WireError):
            parse_custom_id(bad)
    assert button_text(ButtonAction("v", "g1", 2)).text == "/vary 2"
    assert button_text(ButtonAction("u", "g1")).reference == "g1"
    assert button_text(ButtonAction("r", "g1")).text == "/vary"  # the Assistant's re-roll
    cancel = button_text(parse_custom_id("easel:c:job123"))
    assert (cancel.text, cancel.private) == ("/cancel job123", True)


def test_buttons_need_a_generation_that_fits():
    assert buttons(None, 4) == []
    assert buttons("y" * 95, 1) == []
    rows = buttons("gen-1", 4)
    # U1–U4, V1–V4, Retry/Edit/Vary (Region)/Undo, Zoom out 1.5×/2×, the four arrows.
    assert [len(r["components"]) for r in rows] == [4, 4, 4, 2, 4]
    ids = [b["custom_id"] for r in rows for b in r["components"]]
    assert len(set(ids)) == len(ids)


def test_edit_modal_round_trip_with_label_components():
    modal = edit_modal("gen-1", images=3)
    assert modal is not None and modal["custom_id"] == "easel:m:gen-1"
    assert len(modal["title"]) <= 45
    assert [r["components"][0]["custom_id"] for r in modal["components"]] == ["instruction", "image"]
    assert len(edit_modal("gen-1", images=1)["components"]) == 1  # type: ignore[index]
    # Newer clients wrap inputs in label components (type 18); both shapes are read.
    data = {"custom_id": "easel:m:gen-1", "components": [
        {"type": 18, "component": {"type": 4, "custom_id": "instruction",
                                   "value": "  add a\nred hat "}},
        {"type": 1, "components": [{"type": 4, "custom_id": "image", "value": "2"}]}]}
    got = modal_text(parse_custom_id(data["custom_id"]), data)
    assert (got.text, got.reference) == ("/edit 2 add a red hat", "gen-1")
    with pytest.raises(WireError):
        modal_text(ButtonAction("m", "gen-1"), {"components": []})


# ---- message content -------------------------------------------------------------------------
def test_content_fits_2000_characters_and_user_text_cannot_format_or_ping():
    reply = Reply(ReplyKind.IMAGES, "", images=[DeliveredImage("i" * 30, 512, 512, 42)] * 4,
                  prompt="p" * 5000, user_prompt="**bold** @everyone <@123> " + "u" * 5000,
                  steps=4, withheld=1, generation_id="g")
    content = image_content(reply, "80351110224678912")
    assert len(content) <= 2000
    assert "\\*\\*bold\\*\\*" in content and "\\<@123\\>" in content
    assert content.startswith("**") and "<@80351110224678912>" in content
    assert "seed 42, 42, 42, 42" in content and "withheld" in content


# ---- transport ---------------------------------------------------------------------------------
@pytest.fixture
async def rate_limited() -> AsyncIterator[str]:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"message": "You are being rate limited.",
                                  "retry_after": float(request.query.get("after", "30")),
                                  "global": False}, status=429)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def test_expired_tokens_are_never_used():
    async with aiohttp.ClientSession() as session:
        api = DiscordAPI(session, "http://127.0.0.1:9")  # nothing listens: no call may go out
        old = InteractionToken("1", "secret-token", time.monotonic() - 15 * 60)
        with pytest.raises(InteractionExpired):
            await api.edit_original(old, {"content": "late"})
    assert "secret-token" not in redact("/webhooks/1/secret-token/messages/@original")


async def test_rate_limits_beyond_reach_are_not_waited_out(rate_limited: str):
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    async with aiohttp.ClientSession() as session:
        api = DiscordAPI(session, rate_limited, retry=RetryPolicy(max_delay_s=60), sleep=sleep)
        # The token dies before retry_after is over: give up at once.
        token = InteractionToken("1", "tok", time.monotonic() - 15 * 60 + 40)
        with pytest.raises(InteractionExpired):
            await api.edit_original(token, {"content": "x"})
        with pytest.raises(DiscordHTTPError) as exc:  # longer than anyone should wait
            await api.request("GET", "/x?after=120")
        assert exc.value.status == 429
        with pytest.raises(DiscordHTTPError):  # retried, then the last error is raised
            await api.request("GET", "/x?after=0.5", attempts=3)
    assert slept == [0.5, 0.5]


# ---- progress ---------------------------------------------------------------------------------
class ManualTime:
    """Time that passes only when the test says so: `clock` for the editor, and a `sleep`
    that parks its caller until `advance` moves the clock past the deadline."""

    def __init__(self) -> None:
        self.now = 0.0
        self.asked: list[float] = []  # every sleep the editor asked for, in order
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._parked = asyncio.Event()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        entry = (self.now + seconds, asyncio.get_running_loop().create_future())
        self._sleepers.append(entry)
        self._parked.set()
        try:
            await entry[1]
        finally:
            self._sleepers.remove(entry)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for deadline, fut in self._sleepers:
            if deadline <= self.now and not fut.done():
                fut.set_result(None)

    def poke(self) -> None:
        """Something else happened (an edit was sent): `until_parked` looks again."""
        self._parked.set()

    async def until_parked(self, unless=lambda: False) -> None:
        """Return once someone is waiting for time to pass (and so is sending nothing), or
        once `unless()` holds (what a broken editor does instead: the test then fails on
        its assertions rather than hanging here)."""
        while not unless() and not any(not fut.done() for _, fut in self._sleepers):
            self._parked.clear()
            await self._parked.wait()


async def test_progress_edits_are_throttled_and_stop_at_close():
    t = ManualTime()
    sent: list[tuple[float, str]] = []
    arrived: asyncio.Queue[str] = asyncio.Queue()

    async def send(text: str) -> None:
        sent.append((t.now, text))
        await arrived.put(text)
        t.poke()

    async def next_edit() -> str:
        return await asyncio.wait_for(arrived.get(), 30)  # a guard against hanging only

    # Binary fractions keep the clock arithmetic exact.
    editor = ProgressEditor(send, min_interval_s=0.25, clock=t.clock, sleep=t.sleep,
                            name="discord-progress")
    editor.update("working")
    assert await next_edit() == "working"  # the first edit goes out at once
    t.advance(0.125)
    for step in range(1, 9):  # a burst of engine steps inside one interval
        editor.update(f"step {step}")
    # The editor waits out the rest of the interval, sending nothing meanwhile.
    await t.until_parked(unless=lambda: len(sent) > 1)
    assert t.asked == [0.125] and sent == [(0.0, "working")]
    t.advance(0.125)
    assert await next_edit() == "step 8"  # the burst became one edit: the newest text
    assert sent == [(0.0, "working"), (0.25, "step 8")]  # one interval apart, by the clock

    editor.update("step 9")  # pending (throttled)…
    await t.until_parked(unless=lambda: len(sent) > 2)
    assert len(sent) == 2 and t.asked[-1] == 0.25

    def pumps() -> list[asyncio.Task]:
        return [task for task in asyncio.all_tasks() if task.get_name() == "discord-progress"
                and not task.done()]

    assert len(pumps()) == 1  # the editor's task, waiting to send "step 9"
    # …then dropped by close, which must not wait for the clock (the clock is stopped, so
    # a close that waits never finishes; the timeout only keeps that failure from hanging).
    closing = asyncio.create_task(editor.close())
    await asyncio.wait({closing}, timeout=30)
    assert closing.done(), "close() waits for a throttled edit"
    await closing
    editor.update("step 10")  # ignored once closed
    t.advance(10.0)
    assert pumps() == []  # no editor task is left to send anything
    assert arrived.empty() and [text for _, text in sent] == ["working", "step 8"]
    assert editor.sent == 2
