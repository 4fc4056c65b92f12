"""/forget deletes every stored object of the user, and trimming the history deletes the
pictures it trims: uploads, pictures past the history limit, arena pictures and channel
copies all answer 404 afterwards, on memory and on Redis state."""

from __future__ import annotations

import io

from PIL import Image

from bot.state import conversations
from bot.state.conversations import ConversationRecord, Generation, Notice, StorageConversationStore
from bot.state.storage import EtagMemoryStorage
from imaging.store import FileImageStore, RedisImageStore
from tests.support.helpers import final_reply, web_chat, web_session


def _png(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


async def _status(s, url: str) -> int:
    async with s.get(url) as resp:
        return resp.status


async def test_forget_leaves_no_picture_downloadable(app_factory, settings_factory,
                                                     monkeypatch):
    await _forget_everything(await app_factory(settings_factory()), monkeypatch)


async def test_forget_leaves_nothing_in_redis(app_factory, settings_factory, monkeypatch,
                                              redis_client):
    running = await app_factory(settings_factory(redis_url="redis://unused",
                                                 image_store="redis"), redis=redis_client)
    session = await _forget_everything(running, monkeypatch)
    leftover = [k async for k in redis_client.scan_iter(match="*")]
    assert not [k for k in leftover if session.encode() in k], leftover


async def _forget_everything(running, monkeypatch) -> str:
    """An upload, pictures past the history limit and an arena battle, then /forget;
    returns the browser's session id."""
    monkeypatch.setattr(conversations, "HISTORY_LIMIT", 3)  # trimming within a short test
    async with web_session() as s:
        await (await s.get(running.url + "/")).release()
        session = next(c.value for c in s.cookie_jar if c.key == "easel_web")
        # An upload first: it is the oldest generation, so trimming reaches it.
        events = await web_chat(s, running.url, "", image=_png((20, 180, 40)))
        assert final_reply(events)["kind"] == "text"
        record = await running.services.conversations.load(f"conv/web/-/web-{session}")
        [upload] = record.generations[0].image_ids
        pictures = []
        for i in range(4):
            reply = final_reply(await web_chat(s, running.url, f"/imagine --n 2 a red ball {i}"))
            assert reply["kind"] == "images", reply
            pictures.append([running.url + im["url"] for im in reply["images"]])
        battle = final_reply(await web_chat(s, running.url, "/arena a blue kite"))
        assert battle["battle_id"] and len(battle["images"]) == 2
        arena = [running.url + im["url"] for im in battle["images"]]

        # Five generations, three kept: the upload and the first pictures went with them.
        trimmed = [running.url + f"/images/{upload}", *pictures[0]]
        kept = [u for p in pictures[1:] for u in p] + arena
        assert [await _status(s, u) for u in trimmed] == [404] * len(trimmed)
        assert [await _status(s, u) for u in kept] == [200] * len(kept)

        answer = final_reply(await web_chat(s, running.url, "/forget"))
        assert f"{len(kept)} images" in answer["text"], answer
        assert [await _status(s, u) for u in kept] == [404] * len(kept)
        async with s.get(running.url + "/api/chat/history") as resp:
            assert (await resp.json()) == {"entries": []}
    return session


async def test_trimming_deletes_the_trimmed_pictures_unless_still_shown(tmp_path, monkeypatch):
    monkeypatch.setattr(conversations, "HISTORY_LIMIT", 2)
    images = FileImageStore(tmp_path)
    store = StorageConversationStore(EtagMemoryStorage(), images=images)
    ids = [(await images.save(Image.new("RGB", (8, 8), (i, 0, 0)))).image_id for i in range(4)]

    def gen(n: int) -> Generation:
        return Generation(id=f"g{n}", parent_id=None, user_text="", prompt="", seeds=[n],
                          image_ids=[ids[n]], width=8, height=8)

    def first(rec: ConversationRecord) -> None:
        rec.add(gen(0))
        rec.add(gen(1))
        # A recovered arena battle shows picture 1 as well: trimming must not take it.
        rec.note(Notice("", "images", "", images=[{"image_id": ids[1], "width": 8,
                                                   "height": 8, "seed": 1}]))

    await store.update("conv/x", first, user="user/x")
    await store.update("conv/x", lambda rec: rec.add(gen(2)), user="user/x")
    await store.update("conv/x", lambda rec: rec.add(gen(3)), user="user/x")
    assert [await images.read(i) is not None for i in ids] == [False, True, True, True]


async def test_deleting_a_picture_deletes_its_channel_copies(tmp_path):
    await _copies_go_with_the_original(FileImageStore(tmp_path))


async def test_deleting_a_picture_in_redis_deletes_its_channel_copies(redis_client):
    await _copies_go_with_the_original(RedisImageStore(redis_client))


async def _copies_go_with_the_original(store) -> None:
    from bot.channels.teams_render import TeamsRenderer
    from imaging.delivery import ChannelLimits
    from tools.base import DeliveredImage

    original = await store.save(Image.effect_noise((300, 200), 90).convert("RGB"))
    renderer = TeamsRenderer(store, "https://easel.example")
    shown = await renderer.render_image(DeliveredImage(original.image_id, 300, 200, 1),
                                        ChannelLimits(100, 20_000))
    copy_id = shown.url.rsplit("/", 1)[1]
    assert copy_id != original.image_id and await store.read(copy_id) is not None
    assert await store.delete([original.image_id]) == 1
    assert await store.read(copy_id) is None


async def test_forget_deletes_the_job_records_noted_for_the_user(tmp_path, redis_client):
    from bot.pipeline.forget import forget_everything
    from imaging.engine import ImageRequest
    from imaging.jobs.model import ImageJob
    from imaging.jobs.records import JobRecords

    records = JobRecords(redis_client, owner="bot-1")
    store = StorageConversationStore(EtagMemoryStorage())
    mine, theirs = ImageJob(ImageRequest("a red kite"), "ada"), \
        ImageJob(ImageRequest("a blue kite"), "bob")
    for job, user in ((mine, "user/ada"), (theirs, "user/bob")):
        await store.own(user, "job", [job.id])  # as the image tool does, before recording
        await records.create(job, {"user_text": job.request.prompt})
    assert await records.claim(mine.id)
    said = await forget_everything(store, FileImageStore(tmp_path), records, "user/ada")
    assert "0 images" in said
    assert await records.get(mine.id) is None and not await records.delivered(mine.id)
    assert await records.get(theirs.id) is not None
    assert [r.id for r in await records.open_jobs()] == [theirs.id]
