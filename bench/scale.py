"""Ray Serve scale-out: throughput per replica count, per-job overhead, failover.

A one-machine Ray cluster (tests/support/ray_local.py) runs the `ImageWorker` deployment
on a simulated GPU (tests/support/simulated_engine.py: a fixed time per batch of up to
`max_batch_images`, whatever its size), so the figures measure easel's orchestration
(the fair queue, dispatch, Serve's batching and streaming, re-dispatch) and not this
machine's CPU. Three figures:
1. Scaling: `--rounds` full batches per replica of one-image jobs from `--users` users,
   all submitted at once through `RayJobRunner`, with 1, 2 and 4 replicas (so each
   replica count has the same work per replica); images per second against linear
   scaling (k times the 1-replica figure, target at least 90%) and against the simulated
   GPUs' ideal.
2. Overhead: single jobs one after another through the in-process `LocalJobRunner` and
   through Ray with one replica, the same simulated engine; p50 and p95 submit-to-result
   latency and the difference (target at most 10 ms at p50). Beside them, Serve's own
   floor in the same run: one streamed call to a deployment that only sends a picture of
   the same size back (no easel code), which no Serve-based runner can go below.
3. Failover: 2 replicas; the replica running a job is killed mid-batch; the seconds
   from the kill until the job is done on the other replica.

Usage: python -m bench.scale [--seconds 0.4] [--rounds 8] [--users 12]
       (wrap it in `timeout 600`: a Ray driver can hang on a broken cluster)
"""

from __future__ import annotations

import os

from tests.support.ray_local import RAY_ENV, LocalCluster  # noqa: E402

os.environ.update(RAY_ENV)  # before anything imports ray (else it tries the host's address)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import ray  # noqa: E402
from ray import serve  # noqa: E402

from imaging.engine import ImageRequest  # noqa: E402
from imaging.jobs import ImageJob, JobProgress, LocalJobRunner, ray_cluster  # noqa: E402
from imaging.jobs.ray_cluster import Scale, ServeWorkers  # noqa: E402
from imaging.jobs.ray_runner import RayJobRunner  # noqa: E402
from imaging.jobs.serve_worker import APP, WorkerConfig  # noqa: E402
from tests.support.simulated_engine import SimulatedEngine  # noqa: E402

BATCH = 4  # max_batch_images, as in deploy/ray/serve.yaml


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


def _req(i: int, side: int) -> ImageRequest:
    return ImageRequest(f"a kite, take {i}", width=side, height=side, steps=4, seed=i)


class _Timed:
    """`ServeWorkers`, noting when each call is sent (a re-dispatch is a second call)."""

    def __init__(self, inner: ServeWorkers) -> None:
        self.inner = inner
        self.name = inner.name
        self.sent: list[float] = []

    def stream(self, call: dict[str, Any]) -> Any:
        self.sent.append(time.perf_counter())
        return self.inner.stream(call)

    async def capacity(self) -> int:
        return await self.inner.capacity()

    def lost(self, exc: BaseException) -> bool:
        return self.inner.lost(exc)

    def cancelled(self, exc: BaseException) -> bool:
        return self.inner.cancelled(exc)


def simulated(seconds: float, max_batch_images: int) -> WorkerConfig:
    """Replicas on the stand-in GPU (the cluster's workers import tests/ from the repo)."""
    return WorkerConfig(engine_factory="tests.support.simulated_engine:SimulatedEngine",
                        engine_args={"seconds_per_batch": seconds},
                        max_batch_images=max_batch_images)


def deploy(cfg: WorkerConfig, k: int) -> float:
    """Deploy (or update) and wait until exactly k replicas run: the old ones gone too."""
    t0 = time.perf_counter()
    ray_cluster.deploy(APP, cfg, Scale(replicas=k), blocking_timeout_s=240)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        reps = ray_cluster.replicas(APP)
        if (ray_cluster.running_replicas(APP) == k and len(reps) == k
                and all(r["state"] == "RUNNING" for r in reps)):
            return time.perf_counter() - t0
        time.sleep(0.25)
    raise TimeoutError(f"{k} replica(s) were not running after 240 s: {ray_cluster.status(APP)}")


async def _close(runner: Any) -> None:
    """`runner.close()`, one loop turn after the last job ended: called at once, Python
    3.11's `asyncio.wait_for` in `RayJobRunner._dispatch_forever` can swallow the cancel
    (its wake event was just set) and `close()` then waits for the dispatcher forever."""
    await asyncio.sleep(0)
    try:
        await asyncio.wait_for(runner.close(), 30)
    except TimeoutError:
        logging.getLogger("bench.scale").error("%s.close() hung for 30 s", type(runner).__name__)


async def _burst(runner: Any, jobs: int, users: int, side: int) -> float:
    t0 = time.perf_counter()
    handles = [await runner.submit(ImageJob(_req(i, side), f"user{i % users}"))
               for i in range(jobs)]
    await asyncio.gather(*(h.result() for h in handles))
    return time.perf_counter() - t0


async def scaling_run(k: int, jobs: int, users: int, side: int) -> dict[str, Any]:
    runner = RayJobRunner(await ServeWorkers.open(APP), BATCH)
    try:
        await _burst(runner, BATCH * k, BATCH * k, side)  # warm: each replica's first batch
        runner.batches.clear()
        wall = await _burst(runner, jobs, users, side)
        batches = {b["id"]: b for b in runner.batches.values()}
    finally:
        await _close(runner)
    return {"rate": jobs / wall, "wall": wall, "batches": len(batches),
            "fill": statistics.mean(b["jobs"] for b in batches.values()),
            "replicas": len({b["replica"] for b in batches.values()})}


async def sequential(runner: Any, n: int, side: int, warm: int = 3) -> list[float]:
    out = []
    for i in range(warm + n):
        t0 = time.perf_counter()
        handle = await runner.submit(ImageJob(_req(i, side), "solo"))
        await handle.result()
        if i >= warm:
            out.append(time.perf_counter() - t0)
    return out


async def local_run(seconds: float, n: int, side: int) -> list[float]:
    runner = LocalJobRunner(SimulatedEngine(seconds, max_batch_images=BATCH))
    try:
        return await sequential(runner, n, side)
    finally:
        await _close(runner)


async def ray_run(n: int, side: int) -> list[float]:
    runner = RayJobRunner(await ServeWorkers.open(APP), BATCH)
    try:
        return await sequential(runner, n, side)
    finally:
        await _close(runner)


@serve.deployment(name="Echo", max_ongoing_requests=1)
class _Echo:
    """Serve's floor: a streamed call that does nothing but send one picture back."""

    async def generate(self, side: int) -> Any:
        yield [{"type": "result", "image": bytes(side * side * 3)}]


def serve_floor(n: int, side: int, warm: int = 3) -> list[float]:
    serve.run(_Echo.bind(), name="easel-floor", route_prefix=None)
    stream = serve.get_deployment_handle("Echo", app_name="easel-floor").options(
        method_name="generate", stream=True)

    async def calls() -> list[float]:
        out = []
        for i in range(warm + n):
            t0 = time.perf_counter()
            async for _ in stream.remote(side):
                pass
            if i >= warm:
                out.append(time.perf_counter() - t0)
        return out

    try:
        return asyncio.run(calls())
    finally:
        serve.delete("easel-floor")


async def failover_run(seconds: float, side: int) -> dict[str, Any]:
    workers = _Timed(await ServeWorkers.open(APP))
    runner = RayJobRunner(workers, BATCH)
    try:
        await _burst(runner, 2 * BATCH, 2 * BATCH, side)  # both replicas warm
        workers.sent.clear()
        steps: list[int] = []
        started = asyncio.Event()

        async def sink(event: Any) -> None:
            if isinstance(event, JobProgress):
                steps.append(event.step)
                started.set()

        handle = await runner.submit(ImageJob(_req(999, side), "victim"))
        waiter = asyncio.create_task(handle.wait(sink))
        await asyncio.wait_for(started.wait(), 30)
        busy = None
        for _ in range(100):
            reps = await asyncio.to_thread(ray_cluster.replicas, APP)
            busy = next((r for r in reps if (r.get("ongoing") or 0) > 0), None)
            if busy is not None or handle.done():
                break
        if busy is None:
            raise RuntimeError(f"no replica reported the job in progress: {reps}")
        actor = await asyncio.to_thread(ray.get_actor, busy["actor"], namespace="serve")
        at_step = steps[-1] if steps else 0
        t_kill = time.perf_counter()
        ray.kill(actor, no_restart=True)
        await waiter
        t_done = time.perf_counter()
        again = [t for t in workers.sent if t > t_kill]
        return {"killed": busy["replica"], "finished_on": runner.batches[handle.id]["replica"],
                "at_step": at_step, "into_batch": t_kill - workers.sent[0],
                "kill_to_done": t_done - t_kill, "calls": len(workers.sent),
                "kill_to_resent": (again[0] - t_kill) if again else None,
                "resent_to_done": (t_done - again[0]) if again else None,
                "redispatched": runner.redispatched, "retry_delay": runner.retry_delay_s}
    finally:
        await _close(runner)


def main(a: argparse.Namespace) -> None:
    cluster = LocalCluster(cpus=a.cpus)
    t0 = time.perf_counter()
    cluster.start()
    try:
        ray_cluster.connect(cluster.address)
        print(f"local Ray cluster up in {time.perf_counter() - t0:.1f} s ({a.cpus} CPUs counted)")

        cfg = simulated(a.seconds, max_batch_images=BATCH)
        rows = []
        for k in (1, 2, 4):
            took = deploy(cfg, k)
            jobs = a.rounds * k * BATCH
            rows.append((k, took, asyncio.run(scaling_run(k, jobs, a.users, a.side))))
        print(f"\nscaling: {a.rounds} x replicas x {BATCH} one-image jobs from {a.users} users "
              f"at once, {a.side}px, simulated GPU {a.seconds:.2f} s per batch of up to "
              f"{BATCH} images")
        print(f"  {'replicas':>8} {'deploy s':>9} {'wall s':>7} {'images/s':>9} {'ideal':>7} "
              f"{'of ideal':>9} {'vs linear':>10} {'batches':>8} {'jobs/batch':>11} {'used':>5}")
        base = rows[0][2]["rate"]
        for k, took, r in rows:
            ideal = k * BATCH / a.seconds
            print(f"  {k:>8} {took:9.1f} {r['wall']:7.2f} {r['rate']:9.2f} {ideal:7.2f} "
                  f"{r['rate'] / ideal:9.0%} {r['rate'] / (k * base):10.0%} {r['batches']:>8} "
                  f"{r['fill']:11.2f} {r['replicas']:>5}")
        print(f"  (vs linear: images/s over k x the 1-replica figure, target >= 90%; ideal: "
              f"k x {BATCH} images / {a.seconds:.2f} s; jobs/batch: of at most {BATCH})")

        local = asyncio.run(local_run(a.small_seconds, a.turns, a.side))
        lat = [("local runner (in-process)", local)]
        deploy(simulated(a.small_seconds, max_batch_images=BATCH), 1)
        lat.append(("ray, 1 replica", asyncio.run(ray_run(a.turns, a.side))))
        lat.append(("serve alone: echo, no easel", serve_floor(a.turns, a.side)))
        print(f"\nper-job overhead: {a.turns} one-image jobs one after another, {a.side}px, "
              f"simulated {a.small_seconds * 1000:.0f} ms per batch")
        print(f"  {'runner':<32} {'p50 ms':>8} {'p95 ms':>8} {'p50 +ms':>8} {'p95 +ms':>8}")
        l50, l95 = statistics.median(local) * 1000, _pct(local, 0.95) * 1000
        for label, times in lat:
            p50, p95 = statistics.median(times) * 1000, _pct(times, 0.95) * 1000
            extra = "" if times is local else f" {p50 - l50:8.1f} {p95 - l95:8.1f}"
            if label.startswith("serve alone"):  # no engine: its whole time is the floor
                extra = f" {p50:8.1f} {p95:8.1f}"
            print(f"  {label:<32} {p50:8.1f} {p95:8.1f}{extra}")
        ray50, floor50 = (statistics.median(lat[i][1]) * 1000 for i in (1, 2))
        print(f"  easel's own share: {ray50 - l50 - floor50:+.1f} ms p50 (ray, over the local "
              "runner, less serve alone)")
        print("  (serve alone: one streamed Serve call to a deployment that only yields one "
              f"{a.side}px RGB picture,\n   Ray's own round trip on this machine, which the "
              "Ray runner cannot go below)")
        print("  (+ms: over the local runner; target <= 10 ms at p50)")

        deploy(simulated(a.failover_seconds, max_batch_images=BATCH), 2)
        f = asyncio.run(failover_run(a.failover_seconds, a.side))
        print(f"\nfailover: 2 replicas, simulated {a.failover_seconds:.1f} s per batch; the "
              f"job's replica killed {f['into_batch']:.2f} s into the job (step {f['at_step']}/4)")
        print(f"  {'killed replica':<34} {f['killed']}")
        print(f"  {'finished on':<34} {f['finished_on']}"
              f"{'' if f['finished_on'] != f['killed'] else '  (the same replica?)'}")
        if f["kill_to_resent"] is not None:
            print(f"  {'kill -> sent again':<34} {f['kill_to_resent']:6.2f} s "
                  f"(of which the runner's retry delay {f['retry_delay']:.2f} s)")
            print(f"  {'sent again -> done':<34} {f['resent_to_done']:6.2f} s "
                  f"(of which the batch itself {a.failover_seconds:.2f} s)")
        print(f"  {'kill -> done':<34} {f['kill_to_done']:6.2f} s")
        print(f"  {'calls sent / redispatched':<34} {f['calls']} / {f['redispatched']}"
              f"  (expected 2 / 1)")
    finally:
        cluster.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("ray.serve").setLevel(logging.WARNING)  # its own handler, INFO
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.4, help="simulated s per batch")
    ap.add_argument("--rounds", type=int, default=8, help="full batches per replica")
    ap.add_argument("--users", type=int, default=12)
    ap.add_argument("--side", type=int, default=512, help="image side, px (raw RGB travels)")
    ap.add_argument("--turns", type=int, default=30, help="sequential jobs for the overhead")
    ap.add_argument("--small-seconds", type=float, default=0.05)
    ap.add_argument("--failover-seconds", type=float, default=2.0)
    ap.add_argument("--cpus", type=int, default=6, help="CPUs Ray counts (not real cores)")
    main(ap.parse_args())
