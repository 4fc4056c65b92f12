"""Jobs people can see and steer, through the web chat on the real app: place in line,
previews, /cancel and its button, /queue, quotas, and the Prometheus numbers."""

from __future__ import annotations

import asyncio
import base64
import io

import aiohttp
from aiohttp.test_utils import TestServer
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from tests.support.engines import Steered
from tests.support.helpers import final_reply, web_chat, web_session


async def _chat(s, url: str, text: str, reference: str | None = None) -> list[dict]:
    return await web_chat(s, url, text, reference=reference)


_session, _final = web_session, final_reply


async def _steered_app(settings, engine, gate):
    from bot.app.server import create_app
    from bot.app.services import build_services

    server = TestServer(create_app(settings, build_services(settings, engine, gate=gate)),
                        host="127.0.0.1", port=0)
    await server.start_server()
    return server, str(server.make_url("")).rstrip("/")


async def _metrics(s: aiohttp.ClientSession, url: str) -> dict[tuple[str, tuple], float]:
    async with s.get(url + "/metrics") as resp:
        assert resp.status == 200 and resp.content_type == "text/plain"
        text = await resp.text()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


async def test_the_web_chat_shows_place_in_line_progress_and_previews(
        app_factory, settings_factory):
    running = await app_factory(settings_factory())
    running.services.runner.preview_interval_s = 0  # a preview at every step, for the test
    async with _session() as s:
        await (await s.get(running.url + "/")).release()
        events = await _chat(s, running.url, "/imagine --seed 3 a red heart on a blue background")
    queued = [e for e in events if e["type"] == "queued"]
    progress = [e for e in events if e["type"] == "progress"]
    assert queued and queued[0]["position"] == 1 and queued[0]["eta_s"] >= 0
    assert {e["job"] for e in queued + progress} == {queued[0]["job"]}  # one job, one id
    previews = [e["preview"] for e in progress if e["preview"]]
    assert previews and all(p.startswith("data:image/png;base64,") for p in previews)
    img = Image.open(io.BytesIO(base64.b64decode(previews[-1].split(",", 1)[1])))
    assert max(img.size) == 128
    assert [e["type"] for e in events].count("message") == 2  # working, then the picture
    assert _final(events)["kind"] == "images"


async def test_cancel_stops_a_running_job_with_one_cancelled_reply(
        settings_factory, demo_engine, safety_gate):
    engine = Steered(demo_engine, hold_at=1)
    server, url = await _steered_app(settings_factory(), engine, safety_gate)
    try:
        async with _session() as s:
            await (await s.get(url + "/")).release()
            job = asyncio.create_task(_chat(s, url, "/imagine a slow tower"))
            await asyncio.to_thread(engine.at_hold.wait, 30)
            queue = _final(await _chat(s, url, "/queue"))["text"]
            assert "drawing, step 1/" in queue and "tower" in queue
            [job_id] = [line.split("`")[1] for line in queue.splitlines() if line.startswith("- `")]
            # What the Cancel button sends: this job, by id.
            answer = _final(await _chat(s, url, f"/cancel {job_id}"))
            assert answer["text"] == "Cancelled 1 job."
            engine.release.set()
            events = await job
            after = _final(await _chat(s, url, "/queue"))["text"]
    finally:
        await server.close()
    messages = [e for e in events if e["type"] == "message"]
    assert len(messages) == 2 and messages[-1]["reply"]["kind"] == "cancelled"
    assert "You have no pictures in the making" in after


async def test_over_quota_nothing_is_queued_and_the_reply_says_when(
        app_factory, settings_factory):
    running = await app_factory(settings_factory(quota_images_per_minute=1))
    async with _session() as s:
        await (await s.get(running.url + "/")).release()
        assert _final(await _chat(s, running.url, "/imagine a red ball"))["kind"] == "images"
        events = await _chat(s, running.url, "/imagine a blue ball")
        numbers = await _metrics(s, running.url)
    reply = _final(events)
    assert reply["kind"] == "limited" and "1 images per minute" in reply["text"]
    assert 1 <= reply["retry_after_s"] <= 60
    assert not [e for e in events if e["type"] in ("queued", "progress")]
    assert numbers[("easel_jobs_total", (("outcome", "limited"),))] == 1


async def test_quotas_are_shared_by_two_app_instances_on_one_redis(
        app_factory, settings_factory, redis_client):
    settings = settings_factory(redis_url="redis://unused", quota_images_per_minute=1)
    one = await app_factory(settings, redis=redis_client)
    two = await app_factory(settings, redis=redis_client)
    async with _session() as s:
        await (await s.get(one.url + "/")).release()
        cookie = {c.key: c.value for c in s.cookie_jar}
        assert _final(await _chat(s, one.url, "/imagine a red ball"))["kind"] == "images"
    async with _session() as s:  # the same browser session, on the other instance
        s.cookie_jar.update_cookies(cookie, response_url=aiohttp.client.URL(two.url))
        reply = _final(await _chat(s, two.url, "/imagine a blue ball"))
    assert reply["kind"] == "limited"


async def test_metrics_count_what_happened(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    async with _session() as s:
        await (await s.get(running.url + "/")).release()
        before = await _metrics(s, running.url)
        await _chat(s, running.url, "/imagine --n 2 a red ball")
        await _chat(s, running.url, "/imagine a naked woman, nsfw, explicit nudity")
        after = await _metrics(s, running.url)
    engine = running.services.engine.name

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert grew("easel_jobs_total", outcome="done") == 1
    assert grew("easel_images_total", engine=engine) == 2
    assert grew("easel_batch_images_count") == 1 and grew("easel_batch_images_sum") == 2
    assert grew("easel_job_wait_seconds_count") == 1
    assert grew("easel_generation_seconds_count") == 1
    assert grew("easel_safety_blocks_total", checkpoint="input", category="sexual") == 1
    assert after[("easel_queue_depth", ())] == 0


async def test_metrics_can_be_switched_off(app_factory, settings_factory):
    running = await app_factory(settings_factory(metrics="off"))
    async with _session() as s, s.get(running.url + "/metrics") as resp:
        assert resp.status == 404
