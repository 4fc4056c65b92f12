"""The local web chat: GET / serves the page and a session cookie; POST /api/chat streams a
turn's events as NDJSON, on the real app with the built-in demo model."""

from __future__ import annotations

import base64
import io
import json

from PIL import Image

from bot.channels.web import COOKIE
from tests.support.helpers import final_reply, web_chat, web_session


async def _chat(s, url: str, text: str, reference: str | None = None) -> list[dict]:
    return await web_chat(s, url, text, reference=reference)


_session, _final = web_session, final_reply


async def test_page_sets_a_private_session_cookie(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    async with _session() as s:
        async with s.get(running.url + "/") as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            page = await resp.text()
            cookie = resp.cookies[COOKIE]
        assert '<script src="/chat.js">' in page and "<script>" not in page  # no inline JS
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-eval" not in csp
        assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        assert cookie["httponly"] and cookie["samesite"] == "Strict"
        async with s.get(running.url + "/chat.js") as js:
            assert js.status == 200 and "/api/chat" in await js.text()
        for icon in ("/favicon.ico", "/favicon.svg"):
            async with s.get(running.url + icon) as got:
                assert got.status == 200 and got.content_type == "image/svg+xml"
        async with s.get(running.url + "/") as resp:  # the same browser keeps its session
            assert COOKIE not in resp.cookies


async def test_a_picture_then_an_edit_stream_back_with_progress(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    async with _session() as s:
        await (await s.get(running.url + "/")).release()
        events = await _chat(s, running.url,
                             "/imagine --seed 3 a red heart on a blue background")
        kinds = [e["type"] for e in events]
        # "working on it" first, progress as the steps run, the picture last.
        assert kinds[0] == "message" and "progress" in kinds and kinds[-1] == "message"
        steps = [e["step"] for e in events if e["type"] == "progress"]
        assert steps == sorted(steps) and steps[-1] == events[kinds.index("progress")]["total"]
        reply = _final(events)
        assert reply["kind"] == "images" and "heart" in reply["prompt"]
        [image] = reply["images"]
        async with s.get(running.url + image["url"]) as resp:
            assert resp.status == 200
            assert Image.open(io.BytesIO(await resp.read())).size == (256, 256)

        edit = _final(await _chat(s, running.url, "make it green"))
        assert edit["kind"] == "images" and "green heart" in edit["prompt"]
        assert edit["generation_id"] != reply["generation_id"]

        # A button under the first picture acts on that one, not on the latest.
        vary = _final(await _chat(s, running.url, "/vary 1", reference=reply["generation_id"]))
        assert vary["kind"] == "images" and "red heart" in vary["prompt"]


async def test_help_is_one_text_message(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    async with _session() as s:
        await (await s.get(running.url + "/")).release()
        events = await _chat(s, running.url, "/help")
    assert [e["type"] for e in events] == ["message"]
    assert events[0]["reply"]["kind"] == "text" and "/imagine" in events[0]["reply"]["text"]


async def test_each_browser_is_its_own_conversation(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    async with _session() as a, _session() as b:
        for s in (a, b):
            await (await s.get(running.url + "/")).release()
        await _chat(a, running.url, "/imagine --raw a yellow star at night")
        mine = _final(await _chat(a, running.url, "/history"))["text"]
        theirs = _final(await _chat(b, running.url, "/history"))["text"]
    assert "yellow star" in mine and "yellow star" not in theirs


async def test_bad_requests_get_clear_errors(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    url = running.url + "/api/chat"
    async with _session() as s:
        async with s.post(url, json={"text": "hi"}) as resp:  # no session: page not opened
            assert resp.status == 401 and "error" in await resp.json()
        await (await s.get(running.url + "/")).release()
        async with s.post(url, data=b"{not json", headers={"Content-Type": "application/json"}) as resp:
            assert resp.status == 400
        async with s.post(url, data=b"text=hi",
                          headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
            assert resp.status == 415  # what a cross-site form could send
        for body in ({"text": "   "}, {"text": 5}, ["hi"], {"text": "x" * 5000},
                     {"text": "/vary", "reference": "../../etc"}):
            async with s.post(url, json=body) as resp:
                assert resp.status == 400, body
                assert (await resp.json())["error"]


async def test_web_chat_is_off_once_the_server_is_public(app_factory, settings_factory):
    settings = settings_factory(microsoft_app_id="00000000-0000-0000-0000-000000000001",
                                microsoft_app_password="secret")
    assert not settings.web_chat_enabled
    running = await app_factory(settings)
    async with _session() as s:
        async with s.get(running.url + "/") as resp:
            assert resp.status == 200 and "off" in await resp.text()
            assert COOKIE not in resp.cookies
        async with s.post(running.url + "/api/chat", json={"text": "hi"}) as resp:
            assert resp.status == 404
    assert settings_factory(microsoft_app_id="00000000-0000-0000-0000-000000000001",
                            microsoft_app_password="secret", web_chat="on").web_chat_enabled


async def test_history_comes_back_and_pictures_can_be_attached(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    async with _session() as s:
        await (await s.get(running.url + "/")).release()
        async with s.get(running.url + "/api/chat/history") as resp:
            assert (await resp.json()) == {"entries": []}
        first = _final(await _chat(s, running.url, "/imagine a red heart on a blue background"))
        buf = io.BytesIO()
        Image.new("RGB", (96, 80), (20, 180, 40)).save(buf, format="PNG")
        uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
        async with s.post(running.url + "/api/chat",
                          json={"text": "make it a watercolour", "image": uri}) as resp:
            events = [json.loads(line) async for line in resp.content if line.strip()]
        edited = _final(events)
        assert edited["kind"] == "images" and edited["images"][0]["width"] == 96
        async with s.post(running.url + "/api/chat",
                          json={"text": "x", "image": "data:image/png;base64,!!!"}) as resp:
            assert resp.status == 400 and "damaged" in (await resp.json())["error"]
        async with s.get(running.url + "/api/chat/history") as resp:
            entries = (await resp.json())["entries"]
    assert [e["reply"]["generation_id"] for e in entries] == [first["generation_id"],
                                                              edited["generation_id"]]
    assert entries[0]["user"].startswith("a red heart") and entries[0]["reply"]["prompt"]
    async with _session() as other:  # another browser sees nothing of it
        await (await other.get(running.url + "/")).release()
        async with other.get(running.url + "/api/chat/history") as resp:
            assert (await resp.json()) == {"entries": []}
