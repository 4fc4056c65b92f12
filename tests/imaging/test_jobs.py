"""The job lifecycle on the real demo engine: positions, cancel, quotas, previews."""

from __future__ import annotations

import asyncio

import pytest

from imaging.engine import ImageRequest
from imaging.jobs import (
    ImageJob,
    JobCancelled,
    JobProgress,
    JobQueued,
    JobState,
    LocalJobRunner,
    QuotaConfig,
    QuotaExceeded,
    Quotas,
)
from tests.support.engines import Steered


def _req(prompt: str, size: int = 64, steps: int = 4, **kw) -> ImageRequest:
    return ImageRequest(prompt, width=size, height=size, steps=steps, seed=1, **kw)


async def _collect(handle, events: list) -> object:
    async def sink(event) -> None:
        events.append(event)

    return await handle.wait(sink)


async def test_positions_move_as_jobs_ahead_finish(demo_engine) -> None:
    engine = Steered(demo_engine, hold_at=1)
    runner = LocalJobRunner(engine, announce_interval_s=0)
    try:
        first = await runner.submit(ImageJob(_req("a red ball"), "ann"))
        await asyncio.to_thread(engine.at_hold.wait, 30)  # ann's job is running
        b_events: list = []
        c_events: list = []
        # Different sizes: they cannot share a batch, so they run one after the other.
        b = await runner.submit(ImageJob(_req("a blue cup", 96), "bob"))
        c = await runner.submit(ImageJob(_req("a green hat", 128), "cat"))
        waiting = [asyncio.create_task(_collect(b, b_events)),
                   asyncio.create_task(_collect(c, c_events))]
        assert [(j.position, j.state) for j in (await runner.jobs_for("cat"))] == [(2, JobState.QUEUED)]
        engine.hold_at = None
        engine.release.set()
        await first.wait()
        await asyncio.gather(*waiting)
    finally:
        await runner.close()
    positions = [e.position for e in c_events if isinstance(e, JobQueued)]
    assert positions == [2, 1]  # queued second, then first in line once bob's job ran
    assert [e.position for e in b_events if isinstance(e, JobQueued)] == [1]
    eta = next(e.eta_s for e in c_events if isinstance(e, JobQueued))
    assert eta > 0
    assert any(isinstance(e, JobProgress) for e in c_events)


async def test_a_cancelled_queued_job_never_reaches_the_engine(demo_engine) -> None:
    engine = Steered(demo_engine, hold_at=1)
    runner = LocalJobRunner(engine)
    try:
        first = await runner.submit(ImageJob(_req("a red ball"), "ann"))
        await asyncio.to_thread(engine.at_hold.wait, 30)
        doomed = await runner.submit(ImageJob(_req("a doomed kite", 96), "bob"))
        assert await runner.cancel(doomed.id, user="someone-else") is False  # not theirs
        assert await runner.cancel(doomed.id, user="bob") is True
        with pytest.raises(JobCancelled):
            await doomed.wait()
        assert runner.queue_length == 0 and await runner.jobs_for("bob") == []
        engine.release.set()
        await first.wait()
    finally:
        await runner.close()
    assert "a doomed kite" not in engine.prompts


async def test_a_cancelled_running_job_stops_and_its_batch_mates_still_get_images(
        demo_engine) -> None:
    engine = Steered(demo_engine, hold_at=1)
    runner = LocalJobRunner(engine)
    try:
        # Queued together behind nothing: they share one pipeline call.
        mine = await runner.submit(ImageJob(_req("a red ball"), "ann"))
        other = await runner.submit(ImageJob(_req("a blue cup"), "bob"))
        mine_events: list = []
        waits = [asyncio.create_task(_collect(mine, mine_events)),
                 asyncio.create_task(_collect(other, []))]
        await asyncio.to_thread(engine.at_hold.wait, 30)
        assert await runner.cancel_user("ann") == 1
        engine.release.set()
        mine_result, other_result = await asyncio.gather(*waits, return_exceptions=True)
    finally:
        await runner.close()
    assert isinstance(mine_result, JobCancelled)
    assert not isinstance(other_result, BaseException) and len(other_result.images) == 1
    # Cancelled during step 2: it heard step 1, and nothing after it was stopped.
    assert [e.step for e in mine_events if isinstance(e, JobProgress)] == [1]
    assert engine.prompts == ["a red ball", "a blue cup"]  # one call for both


async def test_cancelling_a_batchs_only_job_stops_the_engine_at_the_next_step(
        demo_engine) -> None:
    engine = Steered(demo_engine, hold_at=1)
    runner = LocalJobRunner(engine)
    try:
        job = await runner.submit(ImageJob(_req("a slow tower", steps=8), "ann"))
        await asyncio.to_thread(engine.at_hold.wait, 30)
        await runner.cancel(job.id)
        engine.release.set()
        with pytest.raises(JobCancelled):
            await job.wait()
        # The worker is free again: a new job runs to the end.
        engine.hold_at = None
        done = await (await runner.submit(ImageJob(_req("a quick cup", 96), "ann"))).wait()
    finally:
        await runner.close()
    assert engine.steps_run[:2] == [1, 2]  # stopped at step 2 of 8, not at 8
    assert 3 not in engine.steps_run[:3] and len(done.images) == 1


async def test_previews_come_about_once_a_second_and_show_the_picture(demo_engine) -> None:
    runner = LocalJobRunner(demo_engine, preview_interval_s=0)  # every step, for the test
    events: list = []
    try:
        handle = await runner.submit(ImageJob(_req("a red apple", 256, steps=4, n=2,
                                                   guidance_scale=3.0), "ann"))
        result = await _collect(handle, events)
    finally:
        await runner.close()
    previews = [e.preview for e in events if isinstance(e, JobProgress) and e.preview]
    # Steps 2 and 3: after step 1 the latents are noise, and the last step's picture
    # arrives in full.
    assert len(previews) == 2
    assert max(previews[-1].size) == 128 and previews[-1].width > previews[-1].height  # 2 up
    assert len(result.images) == 2 and runner.preview_seconds > 0


async def test_quotas_in_memory() -> None:
    quotas = Quotas(QuotaConfig(concurrent_jobs=1, images_per_minute=3,
                                exempt=frozenset({"boss"})))
    a = ImageJob(_req("one", n=2), "ann")
    await quotas.admit(a)
    with pytest.raises(QuotaExceeded, match="1 image job running or waiting"):
        await quotas.admit(ImageJob(_req("two"), "ann"))
    await quotas.release(a)
    with pytest.raises(QuotaExceeded, match="3 images per minute") as err:
        await quotas.admit(ImageJob(_req("three", n=2), "ann"))
    assert 1 <= err.value.retry_after_s <= 60
    await quotas.admit(ImageJob(_req("other user", n=2), "bob"))  # counted per user
    for i in range(3):
        await quotas.admit(ImageJob(_req(f"boss {i}", n=4), "boss"))  # exempt


async def test_an_over_quota_job_is_never_queued(demo_engine) -> None:
    runner = LocalJobRunner(demo_engine, quotas=Quotas(QuotaConfig(images_per_day=1)))
    try:
        await (await runner.submit(ImageJob(_req("first"), "ann"))).wait()
        with pytest.raises(QuotaExceeded, match="1 images per day"):
            await runner.submit(ImageJob(_req("second"), "ann"))
        assert runner.queue_length == 0 and await runner.jobs_for("ann") == []
    finally:
        await runner.close()


async def test_quotas_on_redis_are_shared_by_two_processes(redis_client) -> None:
    url = "redis://{host}:{port}/{db}".format(**redis_client.connection_pool.connection_kwargs)
    config = QuotaConfig(concurrent_jobs=1, tenant_images_per_minute=2)
    one = Quotas(config, redis=redis_client, redis_url=url, prefix="easel:test:")
    two = Quotas(config, redis=redis_client, redis_url=url, prefix="easel:test:")
    a = ImageJob(_req("a"), "ann", tenant="t1")
    await one.admit(a)
    with pytest.raises(QuotaExceeded, match="1 image job"):
        await two.admit(ImageJob(_req("b"), "ann", tenant="t1"))  # the other process sees it
    await one.release(a)
    await two.admit(ImageJob(_req("c"), "ann", tenant="t1"))
    with pytest.raises(QuotaExceeded, match="2 images per minute for your organisation"):
        await one.admit(ImageJob(_req("d"), "bob", tenant="t1"))  # same tenant, other user
    await one.admit(ImageJob(_req("e"), "cy", tenant="t2"))


async def test_unreachable_quota_counts_refuse_clearly_and_queue_nothing() -> None:
    import redis.asyncio as aioredis

    from imaging.engine import GenerationError

    down = aioredis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    quotas = Quotas(QuotaConfig(concurrent_jobs=1, images_per_minute=5), redis=down,
                    redis_url="redis://127.0.0.1:1/0")
    try:
        with pytest.raises(GenerationError, match="usage counter is unavailable"):
            await quotas.admit(ImageJob(_req("a"), "ann"))
        await quotas.release(ImageJob(_req("a"), "ann"))  # never raises: the lease expires
    finally:
        await down.aclose()


async def test_a_slot_not_given_back_in_an_outage_is_freed_at_the_next_take(redis_client) -> None:
    # Redis stops answering writes for a moment (CLIENT PAUSE): the release times out and
    # Redis drops it. A Redis that keeps its data would then hold that slot for the whole
    # lease (an hour) and refuse the user's next job; it is given back before the next take.
    import redis.asyncio as aioredis

    kwargs = redis_client.connection_pool.connection_kwargs
    url = "redis://{host}:{port}/{db}".format(**kwargs)
    client = aioredis.from_url(url, socket_timeout=0.3)
    quotas = Quotas(QuotaConfig(concurrent_jobs=1), redis=client, redis_url=url,
                    prefix="easel:release:")
    key = "easel:release:quota:slots:ann"
    try:
        first = ImageJob(_req("a"), "ann")
        await quotas.admit(first)
        assert await redis_client.zcard(key) == 1
        await redis_client.execute_command("CLIENT", "PAUSE", 1500, "WRITE")
        await quotas.release(first)  # times out: never reaches Redis
        await redis_client.execute_command("CLIENT", "UNPAUSE")
        assert await redis_client.zcard(key) == 1  # still taken
        await quotas.admit(ImageJob(_req("b"), "ann"))  # not refused: the old slot went first
        assert await redis_client.zcard(key) == 1
    finally:
        await redis_client.execute_command("CLIENT", "UNPAUSE")
        await client.aclose()
