"""A Redis outage on the real app, with a redis-server the test stops (a crash) and starts
again on the same port: every Redis-backed route answers 503 or a clear message instead
of 500, /healthz names the dependency and /readyz answers 503 while it is down, a picture
finished during the outage is stored and delivered once Redis is back (or, past the
bound, the user hears so, once), and all of it recovers without a restart."""

from __future__ import annotations

import asyncio
import io
import logging

from PIL import Image

from tests.support.helpers import final_reply, web_chat, web_session


def _png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 180, 40)).save(buf, format="PNG")
    return buf.getvalue()


async def _get(s, url: str) -> tuple[int, bytes]:
    async with s.get(url) as resp:
        return resp.status, await resp.read()


async def _health(s, url: str) -> tuple[dict, int]:
    async with s.get(url + "/healthz") as resp:
        assert resp.status == 200  # alive: a Redis outage is no reason to restart easel
        health = await resp.json()
    async with s.get(url + "/readyz") as resp:
        return health, resp.status


class Held:
    """The real image classifier behind a test's hand: a picture (a preview or the
    result) waits at the image check, just before it is stored, until released."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def classify(self, images):
        self.reached.set()
        await self.release.wait()
        return await self.inner.classify(images)


def _holding(safety_gate):
    from safety.gate import SafetyGate

    held = Held(safety_gate.image_classifier)
    return held, SafetyGate(safety_gate.text_classifier, held, safety_gate.policy,
                            safety_gate.audit)


class _Seen(logging.Handler):
    """Sets an event when a log line containing `words` is emitted (on the loop's thread)."""

    def __init__(self, words: str) -> None:
        super().__init__(logging.WARNING)
        self.words = words
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.event.set()


async def test_every_redis_path_degrades_and_recovers(app_factory, settings_factory,
                                                      redis_server):
    running = await app_factory(settings_factory(redis_url=redis_server.url,
                                                 image_store="redis"))
    url = running.url
    async with web_session() as s:
        await (await s.get(url + "/")).release()
        picture = final_reply(await web_chat(s, url, "/imagine a red ball"))
        image = url + picture["images"][0]["url"]
        health, ready = await _health(s, url)
        assert health["status"] == "ok" and health["dependencies"]["redis"] == "ok"
        assert ready == 200

        await redis_server.stop()
        for path in (image, url + "/api/chat/history", url + "/arena"):
            status, body = await _get(s, path)
            assert status == 503 and b"unavailable" in body, (path, status, body[:200])
        upload = final_reply(await web_chat(s, url, "", image=_png()))
        assert upload["kind"] == "error" and "unavailable" in upload["text"]
        board = final_reply(await web_chat(s, url, "/arena board"))
        assert board["kind"] == "error" and "unavailable" in board["text"]
        health, ready = await _health(s, url)
        assert health["status"] == "degraded" and health["dependencies"]["redis"] != "ok"
        assert ready == 503

        await redis_server.start()  # empty: it kept nothing, but it answers again
        health, ready = await _health(s, url)
        assert health["status"] == "ok" and ready == 200
        for path in (url + "/api/chat/history", url + "/arena"):
            assert (await _get(s, path))[0] == 200
        assert (await _get(s, image))[0] == 404  # that Redis lost it: gone, not an error
        again = final_reply(await web_chat(s, url, "/imagine a blue ball"))
        assert again["kind"] == "images"
        assert (await _get(s, url + again["images"][0]["url"]))[0] == 200


async def test_a_picture_finished_in_an_outage_is_delivered_when_redis_returns(
        app_factory, settings_factory, safety_gate, redis_server):
    held, gate = _holding(safety_gate)
    running = await app_factory(settings_factory(redis_url=redis_server.url,
                                                 image_store="redis"), gate=gate)
    url = running.url
    retrying = _Seen("retrying")
    logging.getLogger().addHandler(retrying)
    try:
        async with web_session() as s:
            await (await s.get(url + "/")).release()
            turn = asyncio.create_task(web_chat(s, url, "/imagine a slow red tower"))
            await asyncio.wait_for(held.reached.wait(), 60)
            await redis_server.stop()
            held.release.set()
            await asyncio.wait_for(retrying.event.wait(), 60)  # the picture waits...
            await redis_server.start()  # ...and is kept once Redis answers again
            events = await asyncio.wait_for(turn, 90)
            messages = [e["reply"] for e in events if e["type"] == "message"]
            assert [m["kind"] for m in messages] == ["text", "images"], messages
            status, data = await _get(s, url + messages[-1]["images"][0]["url"])
            assert status == 200 and data[:4] == b"\x89PNG"
            async with s.get(url + "/api/chat/history") as resp:
                [entry] = (await resp.json())["entries"]
            assert entry["reply"]["generation_id"] == messages[-1]["generation_id"]
    finally:
        held.release.set()
        logging.getLogger().removeHandler(retrying)


async def test_past_the_bound_the_user_hears_once_that_the_picture_was_lost(
        app_factory, settings_factory, safety_gate, redis_server):
    held, gate = _holding(safety_gate)
    running = await app_factory(settings_factory(redis_url=redis_server.url,
                                                 image_store="redis", store_retry_s=1),
                                gate=gate)
    async with web_session() as s:
        await (await s.get(running.url + "/")).release()
        turn = asyncio.create_task(web_chat(s, running.url, "/imagine a slow red tower"))
        await asyncio.wait_for(held.reached.wait(), 60)
        await redis_server.stop()
        held.release.set()
        events = await asyncio.wait_for(turn, 90)  # the stream ends: nothing comes after
    messages = [e["reply"] for e in events if e["type"] == "message"]
    assert [m["kind"] for m in messages] == ["text", "error"], messages
    assert "could not be stored" in messages[-1]["text"] and not messages[-1]["images"]
