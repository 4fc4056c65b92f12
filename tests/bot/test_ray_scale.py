"""The Ray Serve runner against a real local Ray cluster (loopback only), demo model, CPU.

One cluster and one deployment (two replicas) serve the whole module: starting Ray and
loading the replicas is the slow part (about 20 s here).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ray_local import RAY_ENV, LocalCluster, free_port  # noqa: E402

os.environ.update(RAY_ENV)  # before Ray is imported: loopback only, no token auth

pytest.importorskip("ray.serve")

from imaging.engine import ImageRequest  # noqa: E402
from imaging.jobs.model import ImageJob, JobProgress  # noqa: E402

APP = "easel-test"
REDIS_DB = 11
STEPS = 24  # long enough to kill something mid-job


@pytest.fixture(scope="module")
def cluster():
    from imaging.jobs import ray_cluster
    from imaging.jobs.serve_worker import WorkerConfig

    local = LocalCluster(cpus=4)
    local.start()
    try:
        ray_cluster.connect(local.address)
        ray_cluster.deploy(APP, WorkerConfig(device="cpu", steps=STEPS, max_batch_images=4),
                           ray_cluster.Scale(replicas=2, cpus_per_replica=1))
        yield local
    finally:
        local.stop()


@pytest.fixture
async def redis_db():
    import redis.asyncio as aioredis

    client = aioredis.from_url(f"redis://127.0.0.1:6379/{REDIS_DB}")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


async def _runner():
    from imaging.jobs.ray_cluster import ServeWorkers
    from imaging.jobs.ray_runner import RayJobRunner

    workers = await ServeWorkers.open(APP)
    return RayJobRunner(workers, workers.max_batch_images, retry_delay_s=0.2)


async def _running_job(runner, prompt: str, user: str, seed: int):
    """Submit a long job and return (job, handle, its waiting task) once it runs."""
    started = asyncio.Event()

    async def sink(event) -> None:
        if isinstance(event, JobProgress):
            started.set()

    job = ImageJob(ImageRequest(prompt, width=256, height=256, steps=STEPS, seed=seed), user=user)
    handle = await runner.submit(job)
    waiting = asyncio.ensure_future(handle.wait(sink))
    await asyncio.wait_for(started.wait(), 60)
    return job, handle, waiting


async def test_one_replica_call_serves_several_users(cluster) -> None:
    runner = await _runner()
    try:
        jobs = [ImageJob(ImageRequest(f"a red fox {i}", width=256, height=256, steps=4, seed=i),
                         user=f"user-{i}") for i in range(6)]
        handles = [await runner.submit(j) for j in jobs]
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 60)
        assert [len(r.images) for r in results] == [1] * 6
        assert len({r.images[0].tobytes() for r in results}) == 6  # each its own picture
        # Six users' jobs make fair batches (within 2 replicas x 4 images): each goes to a
        # replica as one call and runs there as one pipeline call for several users.
        users: dict[str, set[str]] = {}
        for j in jobs:
            users.setdefault(runner.batches[j.id]["id"], set()).add(j.user)
        assert max(len(u) for u in users.values()) >= 2 and len(users) < 6
        assert all(runner.batches[j.id]["jobs"] == len(users[runner.batches[j.id]["id"]])
                   for j in jobs)
    finally:
        await runner.close()


async def test_a_replica_killed_mid_job_gives_exactly_one_image(cluster) -> None:
    import ray

    from imaging.jobs import ray_cluster

    runner = await _runner()
    try:
        _, handle, waiting = await _running_job(runner, "a blue boat", "user-k", 7)
        busy = [r for r in await asyncio.to_thread(ray_cluster.replicas, APP) if r.get("ongoing")]
        assert len(busy) == 1
        ray.kill(ray.get_actor(busy[0]["actor"], namespace="serve"), no_restart=True)
        result = await asyncio.wait_for(waiting, 90)
        assert len(result.images) == 1 and runner.redispatched == 1
        assert handle.done()  # one handle, one outcome
    finally:
        await runner.close()


async def test_cancelling_a_running_job_stops_it(cluster) -> None:
    from imaging.jobs import JobCancelled

    runner = await _runner()
    try:
        job, _, waiting = await _running_job(runner, "a green tree", "user-c", 3)
        assert await runner.cancel(job.id)
        with pytest.raises(JobCancelled):
            await asyncio.wait_for(waiting, 30)
        assert not await runner.jobs_for("user-c")
    finally:
        await runner.close()


async def test_cancelling_one_job_of_a_shared_batch_keeps_the_other(cluster) -> None:
    from imaging.jobs import JobCancelled

    runner = await _runner()
    try:
        jobs = [ImageJob(ImageRequest(f"a paper crane {i}", width=256, height=256, steps=STEPS,
                                      seed=i), user=f"user-s{i}") for i in range(2)]
        handles = [await runner.submit(j) for j in jobs]  # one fair batch, one call
        started = asyncio.Event()

        async def sink(event) -> None:
            if isinstance(event, JobProgress):
                started.set()

        waits = [asyncio.ensure_future(h.wait(sink)) for h in handles]
        await asyncio.wait_for(started.wait(), 60)
        assert await runner.cancel(jobs[0].id)
        with pytest.raises(JobCancelled):  # at once, not when the batch ends
            await asyncio.wait_for(waits[0], 5)
        result = await asyncio.wait_for(waits[1], 60)
        assert len(result.images) == 1
        assert runner.batches[jobs[1].id]["jobs"] == 2  # it ran beside the cancelled one
    finally:
        await runner.close()


def _ray_settings(settings_factory, **extra):
    return settings_factory(runner="ray", ray_address=os.environ["RAY_ADDRESS"], ray_app=APP,
                            redis_url=f"redis://127.0.0.1:6379/{REDIS_DB}", **extra)


async def test_web_chat_and_teams_through_serve(cluster, redis_db, settings_factory,
                                                app_factory, connector, activity_factory
                                                ) -> None:
    from tests.support.helpers import final_reply, next_image, say, web_chat, web_session

    running = await app_factory(_ray_settings(settings_factory), with_engine=False)
    assert type(running.services.runner).__name__ == "RayJobRunner"
    async with web_session() as s:
        async with s.get(running.url + "/") as page:  # the page sets the session cookie
            assert page.status == 200
        events = await web_chat(s, running.url, "/imagine a yellow kite")
        queue = final_reply(await web_chat(s, running.url, "/queue"))  # every process's jobs
        battle = final_reply(await web_chat(s, running.url, "/arena a tall lighthouse"))
    assert battle["kind"] == "images" and len(battle["images"]) == 2  # recorded, then claimed
    assert type(running.services.assistant.jobs).__name__ == "SharedJobs"
    assert "no pictures in the making" in queue["text"]
    reply = final_reply(events)
    assert reply["kind"] == "images" and len(reply["images"]) == 1
    assert any(e["type"] == "progress" for e in events)
    await say(running.url, activity_factory("/imagine a purple house", conversation="ray-teams"))
    card = await next_image(connector, 0, timeout=90)
    assert card["conversation"]["id"] == "ray-teams"
    await running.settled()
    # Every delivery (two pictures, one battle) was claimed: no other process posts again.
    assert len(await redis_db.keys("*delivered:*")) == 3
    assert not [k for k in await redis_db.keys("*jobs:open") if await redis_db.zcard(k)]


def _bot(port: int, data_dir: Path) -> subprocess.Popen:
    env = {**os.environ, **RAY_ENV, "EASEL_RUNNER": "ray", "EASEL_RAY_APP": APP,
           "EASEL_RAY_ADDRESS": os.environ["RAY_ADDRESS"],
           "EASEL_REDIS_URL": f"redis://127.0.0.1:6379/{REDIS_DB}",
           "EASEL_DATA_DIR": str(data_dir), "EASEL_WEB_CHAT": "off"}
    return subprocess.Popen([sys.executable, "-m", "bot.app.cli", "serve", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, cwd=Path(__file__).parents[2],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def _ready(port: int, proc: subprocess.Popen, timeout: float = 90) -> str:
    import aiohttp

    url = f"http://127.0.0.1:{port}"

    async def loop() -> None:
        async with aiohttp.ClientSession() as s:
            while True:
                assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
                try:
                    async with s.get(url + "/healthz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)

    await asyncio.wait_for(loop(), timeout)
    return url


async def test_a_killed_bot_is_finished_by_another_exactly_once(
        cluster, redis_db, tmp_path, connector, activity_factory) -> None:
    from tests.support.helpers import images, say

    a_port, b_port = free_port(), free_port()
    bot_a, bot_b = _bot(a_port, tmp_path), _bot(b_port, tmp_path)
    try:
        a_url, b_url = await asyncio.gather(_ready(a_port, bot_a), _ready(b_port, bot_b))
        # Two processes on one Redis and one cluster: a turn to each.
        await say(b_url, activity_factory("/imagine a red car", conversation="conv-b"))
        await say(a_url, activity_factory("/imagine a white cat", conversation="conv-a"))

        async def recorded() -> None:  # A's job is in Redis (and running on the cluster)
            while True:
                for key in await redis_db.keys("*job:*"):
                    raw = await redis_db.get(key)
                    if raw and b'"conv-a"' in raw:
                        return
                await asyncio.sleep(0.05)

        await asyncio.wait_for(recorded(), 30)
        bot_a.send_signal(signal.SIGKILL)  # mid-job: no goodbye, its lease just runs out
        bot_a.wait(10)

        def finals(conv: str) -> list[dict]:
            return [a for a in images(connector) if (a.get("conversation") or {}).get("id") == conv]

        await connector.wait_for(lambda _: finals("conv-a") and finals("conv-b"), timeout=100)

        async def all_delivered() -> None:
            while True:
                if not any([await redis_db.zcard(k) for k in await redis_db.keys("*jobs:open")]):
                    return
                await asyncio.sleep(0.1)

        await asyncio.wait_for(all_delivered(), 30)
        assert len(finals("conv-a")) == 1 and len(finals("conv-b")) == 1
        assert len(await redis_db.keys("*delivered:*")) == 2
    finally:
        for proc in (bot_a, bot_b):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
