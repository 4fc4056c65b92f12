"""A web-chat job that another bot process finished, and which did not end in a picture
(here: the user cancelled it from another process before its owner died), reaches the
user as a notice in the chat's history, after the pictures before it: never silence."""

from __future__ import annotations

from bot.channels.web import COOKIE
from bot.pipeline.recovery import Recovery
from bot.state.conversations import record_key, user_key
from bot.turn import Turn
from imaging.engine import ImageRequest
from imaging.jobs import ImageJob
from imaging.jobs.records import JobRecords
from tests.support.helpers import final_reply, web_chat, web_session


async def test_a_cancelled_recovered_job_is_a_notice_in_the_history(
        app_factory, settings_factory, redis_client) -> None:
    running = await app_factory(settings_factory())
    async with web_session() as s:
        await (await s.get(running.url + "/")).release()
        first = final_reply(await web_chat(s, running.url, "/imagine a red kite"))
        session = next(c.value for c in s.cookie_jar if c.key == COOKIE)
        turn = Turn("web", f"web-{session}", f"web-{session}", "a blue kite")
        # The job as the image tool journals it, held by a process that is gone.
        dead = JobRecords(redis_client, owner="gone", prefix="test:")
        job = ImageJob(ImageRequest("a blue kite", width=64, height=64, steps=2, seed=3),
                       turn.user_id)
        await dead.create(job, {"channel": "web", "delivery": {"channel": "web"},
                                "conversation_id": turn.conversation_id,
                                "user_id": turn.user_id, "key": record_key(turn),
                                "user_key": user_key(turn), "user_text": "a blue kite"})
        await dead.mark_cancelled(job.id)  # /cancel reached another process
        records = JobRecords(redis_client, owner="here", prefix="test:")
        (orphan,) = await records.orphans()
        assert await records.adopt(orphan)
        # Nothing of the runner, tool or studio is reached: the job is not drawn again.
        recovery = Recovery(records, None, None, None,  # type: ignore[arg-type]
                            running.services.conversations, None)  # type: ignore[arg-type]
        await recovery.resume(orphan)
        assert recovery.recovered == 1 and await records.delivered(job.id)
        async with s.get(running.url + "/api/chat/history") as resp:
            entries = (await resp.json())["entries"]
        await recovery.resume(orphan)  # a second finisher: the claim is taken, nothing posts
        async with s.get(running.url + "/api/chat/history") as resp:
            again = (await resp.json())["entries"]
    assert [e["reply"]["kind"] for e in entries] == ["images", "cancelled"]
    assert entries[0]["reply"]["generation_id"] == first["generation_id"]
    assert entries[1]["user"] == "a blue kite" and "Cancelled" in entries[1]["reply"]["text"]
    assert again == entries


async def test_a_battle_whose_process_died_is_drawn_again_and_lands_once(
        app_factory, settings_factory, redis_client) -> None:
    from bot.pipeline.arena_turns import battle_context
    from bot.pipeline.studio import Scope

    running = await app_factory(settings_factory())
    arena = running.services.assistant.arena
    raw, rewritten = sorted(arena.entries, key=lambda e: e.name, reverse=True)[:2]
    async with web_session() as s:
        await (await s.get(running.url + "/")).release()
        session = next(c.value for c in s.cookie_jar if c.key == COOKIE)
        turn = Turn("web", f"web-{session}", f"web-{session}", "/arena a red apple",
                    delivery={"channel": "web"})
        scope = Scope(turn, record_key(turn), user_key(turn), None)
        # The battle as a bot process recorded it just before it was killed.
        dead = JobRecords(redis_client, owner="gone", prefix="test:")
        await dead.create_turn("battle-1", turn.user_id,
                               battle_context(scope, "a red apple", raw, rewritten))
        records = JobRecords(redis_client, owner="here", prefix="test:")
        (orphan,) = await records.orphans()
        assert orphan.job is None and await records.adopt(orphan)
        recovery = Recovery(records, None, None, None,  # type: ignore[arg-type]
                            running.services.conversations, None,  # type: ignore[arg-type]
                            battles=arena)
        await recovery.resume(orphan)
        await recovery.resume(orphan)  # delivered already: nothing is drawn or posted again
        assert recovery.recovered == 1 and not await records.open_jobs()
        assert len(await running.services.arena_store.list_battles()) == 1
        async with s.get(running.url + "/api/chat/history") as resp:
            (entry,) = (await resp.json())["entries"]
        battle = entry["reply"]
        assert battle["kind"] == "images" and len(battle["images"]) == 2 and battle["battle_id"]
        vote = final_reply(await web_chat(s, running.url, "/vote a",
                                          reference=battle["battle_id"]))
    # The same entries on the same sides as the battle that was cut short.
    assert f"**A** was **{raw.name}**, **B** was **{rewritten.name}**" in vote["text"]
