"""What users send, bounded and cleaned in every channel: the text cap (a polite reply,
no model reached), control characters out of prompts, a --raw prompt's limit said in
words, hostile shapes the hardening issue found answered 4xx or politely, attachments
upright and within bounds, and the rules brain off the event loop."""

from __future__ import annotations

import base64
import io
import struct
import threading
import zlib

from PIL import Image

from bot.llm.rules import RulesBrain
from bot.turn import MAX_TEXT_CHARS, Turn
from tests.bot.test_discord_channel import (  # noqa: F401 (fixtures used by name)
    DiscordApp,
    discord_app,
    fake_discord,
    signing_key,
)
from tests.support.helpers import (
    card_prompt,
    final_reply,
    is_result,
    post_activity,
    web_chat,
    web_session,
)

LIMIT_WORDS = f"at most {MAX_TEXT_CHARS:,} characters"


class CountingBrain(RulesBrain):
    """The rules brain, noting which thread each decision ran in."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def decide_now(self, req):
        self.threads.append(threading.current_thread())
        return super().decide_now(req)


def _text(activity: dict) -> str:
    return activity.get("text") or ""


# ---- the text cap, channel by channel --------------------------------------------------------
async def test_over_long_web_message_gets_the_limit_and_reaches_nothing(
        app_factory, settings_factory):
    brain = CountingBrain()
    running = await app_factory(settings_factory(), brain=brain)
    async with web_session() as s:
        await (await s.get(running.url + "/")).release()
        for text in ("draw " * MAX_TEXT_CHARS, "x" * (MAX_TEXT_CHARS + 1)):
            async with s.post(running.url + "/api/chat", json={"text": text}) as resp:
                assert resp.status == 400
                assert LIMIT_WORDS in (await resp.json())["error"]
        # At the limit exactly, it is read as usual.
        reply = final_reply(await web_chat(s, running.url, "a" * MAX_TEXT_CHARS))
        assert LIMIT_WORDS not in reply["text"]
    assert len(brain.threads) == 1 and running.services.runner.batches_run == 0


async def test_over_long_teams_message_gets_the_limit_and_reaches_nothing(
        app_factory, settings_factory, connector, activity_factory):
    brain = CountingBrain()
    running = await app_factory(settings_factory(), brain=brain)
    # A megabyte (what once blocked the server for 4.9 s), and just over the cap.
    for text in ("draw a cat " * 100_000, "/imagine " + "a" * MAX_TEXT_CHARS):
        status, _ = await post_activity(running.url, activity_factory(text))
        assert status in (200, 201)
        await connector.wait_for(lambda a: LIMIT_WORDS in _text(a))
        connector.received.clear()
    await running.settled()
    assert brain.threads == [] and running.services.runner.batches_run == 0
    assert not any(is_result(a) for a in connector.received)


async def test_over_long_discord_prompt_gets_the_limit_privately(discord_app: DiscordApp):  # noqa: F811
    d = discord_app
    status, answer = await d.post(d.command("imagine", prompt="a fox " * 1000))
    assert status == 200 and answer["type"] == 4 and answer["data"]["flags"] == 64
    assert LIMIT_WORDS in answer["data"]["content"]
    assert d.services.runner.batches_run == 0 and d.fake.calls == []


async def test_the_rules_brain_thinks_in_a_thread(app_factory, settings_factory):
    brain = CountingBrain()
    running = await app_factory(settings_factory(), brain=brain)
    async with web_session() as s:
        await (await s.get(running.url + "/")).release()
        await web_chat(s, running.url, "hello there")
    assert brain.threads and threading.main_thread() not in brain.threads


# ---- control characters and the --raw limit ------------------------------------------------
def test_a_turn_keeps_no_control_characters():
    turn = Turn("web", "c", "u", "a\x00 red\x07 heart\x1b[31m\r\non\x7f blue\x85\ud800")
    assert turn.text == "a red heart[31m\non blue"


async def test_control_characters_never_reach_a_prompt(
        app_factory, settings_factory, connector, activity_factory):
    running = await app_factory(settings_factory())
    async with web_session() as s:
        await (await s.get(running.url + "/")).release()
        reply = final_reply(await web_chat(s, running.url,
                                           "/imagine --raw a red\x00 heart\x07 on blue\x1b"))
        history = final_reply(await web_chat(s, running.url, "/history"))["text"]
    assert reply["prompt"] == "a red heart on blue" and reply["user_prompt"] == reply["prompt"]
    assert "\x00" not in history and "a red heart on blue" in history
    await post_activity(running.url, activity_factory("/imagine --raw a green\x00\x01 frog"))
    msg = await connector.wait_for(is_result)
    assert card_prompt(msg) == "a green frog"


async def test_control_characters_never_reach_a_discord_prompt(discord_app: DiscordApp):  # noqa: F811
    d = discord_app
    ix = d.command("imagine", prompt="a blue\x00 boat\x1b", raw=True)
    assert await d.post(ix) == (200, {"type": 5})
    done = await d.fake.wait_for(lambda c: c.token == ix["token"] and bool(c.files))
    assert "a blue boat" in done.payload["content"] and "\x00" not in done.payload["content"]


async def test_a_raw_prompt_over_its_limit_says_the_limit_in_words(app_factory,
                                                                   settings_factory):
    running = await app_factory(settings_factory())
    async with web_session() as s:
        await (await s.get(running.url + "/")).release()
        reply = final_reply(await web_chat(s, running.url, "/imagine --raw " + "a " * 700))
        seed = final_reply(await web_chat(s, running.url, "/imagine --seed 99999999999999999999 x"))
    assert reply["kind"] == "error" and "prompt is too long: at most 1,000 characters" in \
        reply["text"] and "String should" not in reply["text"]
    assert "--seed must be a whole number from 0 to 9223372036854775807" in seed["text"]
    assert running.services.runner.batches_run == 0


# ---- the hardening issue's 500s ---------------------------------------------------------------
async def test_the_issues_500s_are_400s_or_polite_replies(
        app_factory, settings_factory, connector, activity_factory):
    running = await app_factory(settings_factory())
    async with web_session() as s:
        await (await s.get(running.url + "/")).release()
        url = running.url + "/api/chat"
        async with s.post(url, data=b'{"text": "hi"}', headers={
                "Content-Type": "application/json; charset=klingon"}) as resp:
            assert resp.status == 400 and "charset" in (await resp.json())["error"]
        deep = b'{"text":' * 100_000 + b'"hi"' + b"}" * 100_000
        async with s.post(url, data=deep, headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 400 and "nested" in (await resp.json())["error"]

    no_conversation = activity_factory("hello")
    del no_conversation["conversation"]
    assert (await post_activity(running.url, no_conversation))[0] == 400
    for index in ("9" * 5000, "²", [1], 1.5):
        invoke = activity_factory("", name="adaptiveCard/action", value={"action": {
            "type": "Action.Execute", "verb": "vary",
            "data": {"easel": "vary", "generation_id": "g1", "index": index}}})
        invoke["type"] = "invoke"
        status, body = await post_activity(running.url, invoke)
        assert status == 200 and body["statusCode"] == 400, index  # "I don't know that button"
    await post_activity(running.url, activity_factory("/vary " + "9" * 3990))
    said = await connector.wait_for(lambda a: "There is no image" in _text(a))
    assert len(_text(said)) < 200
    await running.settled()
    assert running.services.runner.batches_run == 0


# ---- attachments, end to end -------------------------------------------------------------------
def _uri(data: bytes, kind: str) -> str:
    return f"data:image/{kind};base64," + base64.b64encode(data).decode()


async def test_attachments_are_upright_and_bounded(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    photo = Image.new("RGB", (160, 96), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # taken with the phone turned: 96 wide, 160 high as the camera meant
    buf = io.BytesIO()
    photo.save(buf, format="JPEG", exif=exif.tobytes())

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data))
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 5000, 5000, 8, 2, 0,
                                                            0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    gif = io.BytesIO()
    photo.save(gif, format="GIF")
    async with web_session() as s:
        await (await s.get(running.url + "/")).release()
        edited = final_reply(await web_chat(s, running.url, "make it a watercolour",
                                            image=buf.getvalue()))
        assert (edited["images"][0]["width"], edited["images"][0]["height"]) == (96, 160)
        for data, kind, said in ((bomb, "png", "too large to open (5000×5000 pixels)"),
                                 (gif.getvalue(), "gif", "PNG, JPEG and WebP")):
            async with s.post(running.url + "/api/chat", json={
                    "text": "make it blue", "image": _uri(data, kind)}) as resp:
                assert resp.status == 400
                assert said in (await resp.json())["error"]
