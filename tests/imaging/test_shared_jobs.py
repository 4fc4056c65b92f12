"""/queue and /cancel across bot processes (imaging/jobs/shared.py): two processes, each
with its own runner, on one real Redis. A job held by one is seen and cancelled from the
other; a process that is gone drops off the board; a cancelled job is not redrawn."""

from __future__ import annotations

import asyncio

import pytest

from imaging.engine import ImageRequest
from imaging.jobs import ImageJob, JobCancelled, JobState, LocalJobRunner
from imaging.jobs.records import JobRecords
from imaging.jobs.shared import SharedJobs
from tests.support.engines import Steered


def _job(prompt: str, user: str) -> ImageJob:
    return ImageJob(ImageRequest(prompt, width=64, height=64, steps=4, seed=1), user)


@pytest.fixture
async def two_processes(redis_client, demo_engine):
    engine = Steered(demo_engine, hold_at=1)
    made = []
    for owner in ("proc-a", "proc-b"):
        runner = LocalJobRunner(engine, announce_interval_s=0)
        records = JobRecords(redis_client, owner=owner, prefix="test:")
        made.append(SharedJobs(runner, records, redis_client, prefix="test:", publish_s=60))
    try:
        yield engine, made[0], made[1]
    finally:
        engine.release.set()
        for shared in made:
            await shared.aclose()
            await shared.runner.close()


async def test_another_process_sees_and_cancels_a_running_job(two_processes) -> None:
    engine, a, b = two_processes
    handle = await a.runner.submit(_job("a red kite", "ann"))
    queued = await a.runner.submit(_job("a blue kite", "ann"))
    await asyncio.to_thread(engine.at_hold.wait, 30)  # ann's first job runs in process A
    await a.publish()
    seen = {(j.id, j.state) for j in await b.jobs_for("ann")}
    assert seen == {(handle.job.id, JobState.RUNNING), (queued.job.id, JobState.QUEUED)}
    assert await b.jobs_for("bob") == []
    assert b.queue_length == 1  # A's waiting job, as last read
    assert not await b.cancel(handle.job.id, user="bob")  # not bob's to cancel
    assert await b.cancel(handle.job.id, user="ann")
    await a._heard()  # A's next beat: it finds the mark on its job and stops it
    engine.release.set()
    with pytest.raises(JobCancelled):
        await asyncio.wait_for(handle.result(), 30)
    assert len((await asyncio.wait_for(queued.result(), 60)).images) == 1  # only that one


async def test_cancel_all_counts_every_process_and_skips_gone_ones(two_processes) -> None:
    engine, a, b = two_processes  # only A draws: the two runners share one engine here
    running = await a.runner.submit(_job("a green boat", "cy"))
    waiting = await a.runner.submit(_job("a grey boat", "cy"))
    await asyncio.to_thread(engine.at_hold.wait, 30)
    await a.publish()
    assert await b.cancel_user("cy") == 2  # B holds none of them: both are A's
    assert await a.records.cancelled(waiting.job.id)  # an adopter would not redraw it
    await a._heard()
    engine.release.set()
    for handle in (running, waiting):
        with pytest.raises(JobCancelled):
            await asyncio.wait_for(handle.result(), 30)
    await a.publish()
    assert await b.jobs_for("cy") == [] and await b.cancel_user("cy") == 0
    await a.runner.submit(_job("a white boat", "dee"))
    await a.publish()
    await a.aclose()  # a process that stops takes its board with it
    assert await b.jobs_for("dee") == []
