"""Issue 5: conversation memory on a real Redis, and follow-up edits of the picked image."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from bot.state.conversations import ConversationRecord, Generation, StorageConversationStore
from bot.state.storage import CREATE_ONLY, EtagConflict, RedisStorage
from tests.support.helpers import card_images, card_prompt, card_seeds, images, next_image, say


async def _next_text(connector, seen: int) -> str:
    await connector.wait_for(lambda a: len(connector.messages()) > seen, timeout=90)
    return connector.messages()[seen]["text"]


def _pixels(services, image_id: str) -> np.ndarray:
    data = services.store.read_sync(image_id)
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=float)


def _prompt(msg: dict) -> str:
    return card_prompt(msg)


# ---- storage ---------------------------------------------------------------------------
async def test_redis_storage_etags_and_concurrent_updates(redis_client):
    storage = RedisStorage(redis_client, prefix="easel:test:", ttl_s=60)
    await storage.write({"k": {"a": 1, "e_tag": CREATE_ONLY}})
    first = (await storage.read(["k"]))["k"]
    with pytest.raises(EtagConflict):
        await storage.write({"k": {"a": 9, "e_tag": CREATE_ONLY}})  # already exists
    await storage.write({"k": {"a": 2, "e_tag": first["e_tag"]}})
    with pytest.raises(EtagConflict):  # a stale e-tag loses
        await storage.write({"k": {"a": 3, "e_tag": first["e_tag"]}})
    assert (await storage.read(["k"]))["k"]["a"] == 2
    assert 0 < await redis_client.ttl("easel:test:item:k") <= 60

    store = StorageConversationStore(storage)

    def adder(i: int):
        def add(rec: ConversationRecord) -> None:
            rec.add(Generation(id=f"g{i}", parent_id=None, user_text=str(i), prompt=str(i),
                               seeds=[i], image_ids=[], width=8, height=8))
        return add

    # 20 concurrent turns on one conversation: every one of them lands.
    await asyncio.gather(*(store.update("conv/x", adder(i)) for i in range(20)))
    rec = await store.load("conv/x")
    assert sorted(g.id for g in rec.generations) == sorted(f"g{i}" for i in range(20))
    assert store.conflicts > 0  # they really did collide and were retried


async def test_concurrent_turns_in_one_conversation_lose_nothing(
        app_factory, settings_factory, connector, activity_factory, redis_client):
    running = await app_factory(settings_factory(redis_url="redis://unused"), redis=redis_client)
    await asyncio.gather(
        say(running.url, activity_factory("/settings n=2")),
        say(running.url, activity_factory("/settings size=320x192")),
        say(running.url, activity_factory("/settings steps=3")),
    )
    await say(running.url, activity_factory("/settings"))
    shown = connector.messages()[-1]["text"]
    assert "n=2" in shown and "size=320x192" in shown and "steps=3" in shown


# ---- restart, follow-up edits, commands ---------------------------------------------------
async def test_history_and_settings_survive_a_restart(
        app_factory, settings_factory, connector, activity_factory, redis_client):
    settings = settings_factory(redis_url="redis://unused")
    first = await app_factory(settings, redis=redis_client)
    await say(first.url, activity_factory("/settings raw=on"))
    await say(first.url, activity_factory("/imagine a lighthouse on a cliff"))
    await next_image(connector, 0)
    await first.server.close()

    second = await app_factory(settings, redis=redis_client)  # a new process, same Redis
    n = len(connector.messages())
    await say(second.url, activity_factory("/history"))
    assert "a lighthouse on a cliff" in await _next_text(connector, n)
    await say(second.url, activity_factory("/settings"))
    assert "raw=on" in await _next_text(connector, n + 1)


async def test_follow_up_edits_the_picked_image_with_its_seed(
        app_factory, settings_factory, connector, activity_factory, redis_client):
    running = await app_factory(settings_factory(redis_url="redis://unused"), redis=redis_client)
    svc = running.services
    await say(running.url, activity_factory("/imagine --n 2 --seed 11 a red barn in a field"))
    first = await next_image(connector, 0)
    await say(running.url, activity_factory("the second one, make it darker"))
    edited = await next_image(connector, 1)
    assert "barn" in _prompt(edited).lower() and "dark" in _prompt(edited).lower()

    rec = await svc.conversations.load("conv/teams/tenant-1/conv-1")
    source, edit = rec.generations[-2], rec.generations[-1]
    assert edit.kind == "edit" and edit.parent_id == source.id
    assert edit.seeds == [source.seeds[1]] == [12]  # image 2 of seeds 11, 12
    assert edit.strength is not None and edit.strength < 0.5  # a light change
    src = _pixels(svc, source.image_ids[1])
    out = _pixels(svc, edit.image_ids[0])
    fresh = svc.engine.generate([type(svc.engine).generate.__globals__["ImageRequest"](
        edit.prompt, width=edit.width, height=edit.height, steps=4, seed=999)])[0].images[0]
    d_edit = np.abs(out - src).mean()
    d_fresh = np.abs(np.asarray(fresh, dtype=float) - src).mean()
    assert d_edit > 0.5  # it changed…
    assert d_edit < d_fresh  # …but stayed closer to the picked image than a new one
    assert card_seeds(edited) == [12] and first is not edited


async def test_make_it_red_recolours_the_blue_car_and_keeps_its_place(
        app_factory, settings_factory, connector, activity_factory, redis_client):
    """The issue's edit, end to end through Teams on the built-in demo model: the car turns
    red where it stood; the background stays."""
    from bot.pipeline.picks import RECOLOUR_STRENGTH
    from imaging.demo.measure import iou, measure

    running = await app_factory(settings_factory(redis_url="redis://unused"), redis=redis_client)
    svc = running.services
    await say(running.url, activity_factory(
        "/imagine --raw --seed 4 a large blue car in the centre on a green background"))
    await next_image(connector, 0)
    await say(running.url, activity_factory("make it red"))
    edited = await next_image(connector, 1)
    prompt = _prompt(edited)
    assert "red car" in prompt and "blue" not in prompt  # one colour, not "blue car, red"

    rec = await svc.conversations.load("conv/teams/tenant-1/conv-1")
    source, edit = rec.generations[-2], rec.generations[-1]
    assert edit.kind == "edit" and edit.strength == RECOLOUR_STRENGTH
    before, after = (measure(Image.fromarray(_pixels(svc, g.image_ids[0]).astype(np.uint8)))
                     for g in (source, edit))
    assert (before.colour, after.colour) == ("blue", "red")
    assert (before.background, after.background) == ("green", "green")
    assert iou(before.mask, after.mask) >= 0.6


async def test_vary_edit_undo_history_settings_forget(
        app_factory, settings_factory, connector, activity_factory, redis_client):
    running = await app_factory(settings_factory(redis_url="redis://unused"), redis=redis_client)
    svc = running.services
    key = "conv/teams/tenant-1/conv-1"
    await say(running.url, activity_factory("/imagine --n 2 a small sailboat"))
    await next_image(connector, 0)
    await say(running.url, activity_factory("/vary"))
    vary = await next_image(connector, 1)
    assert len(card_images(vary)) == 2
    await say(running.url, activity_factory("/vary 2"))
    await next_image(connector, 2)
    await say(running.url, activity_factory("/edit 1 add a red flag"))
    edited = await next_image(connector, 3)
    assert "flag" in _prompt(edited).lower() and "sailboat" in _prompt(edited).lower()
    rec = await svc.conversations.load(key)
    kinds = [g.kind for g in rec.generations]
    assert kinds == ["generate", "vary", "vary", "edit"]
    assert rec.generations[2].strength == 0.6 and rec.generations[3].parent_id == rec.generations[2].id

    n = len(connector.messages())
    await say(running.url, activity_factory("/edit 7 add a hat"))
    assert "only 1 image" in await _next_text(connector, n)  # the edit made one

    await say(running.url, activity_factory("/undo"))  # back to the /vary 2 result
    undone = await next_image(connector, 4)
    rec = await svc.conversations.load(key)
    assert rec.current_id == rec.generations[2].id
    assert card_images(undone) and "Back to the previous picture" in str(undone["attachments"])

    n = len(connector.messages())
    await say(running.url, activity_factory("/history"))
    hist = await _next_text(connector, n)
    assert "a small sailboat" in hist and "current" in hist

    await say(running.url, activity_factory("/settings n=9"))
    assert "n must be" in await _next_text(connector, n + 1)

    image_ids = [i for g in rec.generations for i in g.image_ids]
    assert all(svc.store.read_sync(i) for i in image_ids)
    await say(running.url, activity_factory("/forget"))
    assert "deleted" in (await _next_text(connector, n + 2)).lower()
    assert not any(svc.store.read_sync(i) for i in image_ids)  # gone from disk
    leftover = [k async for k in redis_client.scan_iter(match="*")]
    assert not [k for k in leftover if b"conv-1" in k or b"user-1" in k], leftover
    await say(running.url, activity_factory("/history"))
    assert "No pictures yet" in await _next_text(connector, n + 3)


async def test_new_conversation_is_empty_and_cannot_reach_others(
        app_factory, settings_factory, connector, activity_factory, redis_client):
    running = await app_factory(settings_factory(redis_url="redis://unused"), redis=redis_client)
    await say(running.url, activity_factory("/imagine a teapot", conversation="conv-A"))
    await next_image(connector, 0)
    rec = await running.services.conversations.load("conv/teams/tenant-1/conv-A")
    n = len(connector.messages())
    # A button in another conversation naming conv-A's generation finds nothing.
    act = activity_factory("", conversation="conv-B",
                           value={"easel": "vary", "generation_id": rec.current_id})
    await say(running.url, act)
    assert "not in this conversation" in await _next_text(connector, n)
    await say(running.url, activity_factory("make it darker", conversation="conv-B"))
    assert "picture" in (await _next_text(connector, n + 1)).lower()


# ---- attachments ----------------------------------------------------------------------------
def _png(w: int, h: int, colour=(40, 90, 200)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), colour).save(buf, format="PNG")
    return buf.getvalue()


def _bomb_png(w: int = 60000, h: int = 60000) -> bytes:
    """A tiny PNG whose header claims 3.6 gigapixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) \
        + chunk(b"IEND", b"")


async def test_attached_image_is_edited_and_bad_attachments_refused(
        app_factory, settings_factory, connector, activity_factory, redis_client):
    running = await app_factory(settings_factory(redis_url="redis://unused"), redis=redis_client)
    connector.files["att1"] = (_png(200, 136), "image/png")
    connector.files["bomb"] = (_bomb_png(), "image/png")
    connector.files["big"] = (b"\0" * (11 * 1024 * 1024), "image/png")

    def with_attachment(text: str, url: str, ctype: str = "image/png") -> dict:
        return activity_factory(text, attachments=[{"contentType": ctype, "contentUrl": url,
                                                    "name": "photo.png"}])

    await say(running.url, with_attachment("make it darker",
                                             f"{connector.url}/v3/attachments/att1/views/original"))
    msg = await next_image(connector, 0)
    rec = await running.services.conversations.load("conv/teams/tenant-1/conv-1")
    assert [g.kind for g in rec.generations] == ["upload", "edit"]
    assert (rec.generations[1].width, rec.generations[1].height) == (200, 136)
    assert card_images(msg)

    n = len(connector.messages())
    await say(running.url, with_attachment("add a hat", "https://evil.example.com/x.png"))
    assert "pasted or uploaded into this chat" in await _next_text(connector, n)
    await say(running.url, with_attachment(
        "add a hat", f"{connector.url}/v3/attachments/bomb/views/original"))
    assert "too large" in await _next_text(connector, n + 1)
    await say(running.url, with_attachment(
        "add a hat", f"{connector.url}/v3/attachments/big/views/original"))
    assert "too big" in await _next_text(connector, n + 2)
    await running.settled()  # no refused edit is still on its way to the engine
    assert len(images(connector)) == 1


# ---- Redis outage ----------------------------------------------------------------------------
async def test_redis_outage_gives_a_clear_reply_then_recovers(
        app_factory, settings_factory, connector, activity_factory, tmp_path):
    import shutil
    import socket
    import subprocess

    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def start() -> subprocess.Popen:
        proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no", "--dir", str(tmp_path)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return proc
            import time
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    proc = start()
    try:
        running = await app_factory(settings_factory(redis_url=f"redis://127.0.0.1:{port}/0"))
        await say(running.url, activity_factory("/settings n=2"))
        assert "n=2" in await _next_text(connector, 0)

        proc.terminate()
        proc.wait()
        await say(running.url, activity_factory("/imagine a lamp"))
        assert "temporarily unavailable" in await _next_text(connector, 1)
        await say(running.url, activity_factory("/settings"))
        assert "temporarily unavailable" in await _next_text(connector, 2)

        proc = start()  # Redis is back (empty: it keeps nothing on disk here)
        await say(running.url, activity_factory("/imagine a lamp"))
        msg = await next_image(connector, 0)
        assert "lamp" in _prompt(msg)
    finally:
        proc.terminate()
        proc.wait()
