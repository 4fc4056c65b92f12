"""Job-lifecycle benchmark on the built-in demo model: fairness, ETA, previews, cancel.

20 simulated users each send a burst of 2-4 jobs (1 or 2 images, two sizes) within the
same half second, against the in-process runner. It prints each user's p50 and p99 wait
(submit to first step), Jain's fairness index of wait per requested image (1.0 = perfectly
fair; a user's wait being the time until all of their burst is drawn, so asking for more
may cost more, but not more than one's share), side by side with the same load through one
first-in-first-out line, the ETA error (median |promised - actual| / actual, the promise
being the job's first `queued` event), the preview cost as a share of generation time, and
how long a running job takes to stop after `/cancel`, in engine steps.

Usage: python -m bench.jobs_queue [--users 20] [--seed 1]   (runs this file)
"""

from __future__ import annotations

import argparse  # noqa: E402
import asyncio  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from imaging.demo import default_model_dir  # noqa: E402
from imaging.engine import ImageRequest  # noqa: E402
from imaging.engines.diffusers import DiffusersEngine  # noqa: E402
from imaging.jobs import ImageJob, JobCancelled, JobProgress, JobQueued, LocalJobRunner  # noqa: E402

SIZES = (256, 320)  # two batch keys: compatible jobs batch, the others wait their turn


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


def _by_user(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        out.setdefault(r["user"], []).append(r)
    return out


def _per_image(by_user: dict[str, list[dict]]) -> list[float]:
    """Each user's wait for the whole burst, per image asked for."""
    return [max(r["finished"] for r in mine) / sum(r["images"] for r in mine)
            for mine in by_user.values()]


def jain(values: list[float]) -> float:
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


async def _job(runner: LocalJobRunner, user: str, req: ImageRequest, rows: list[dict],
               burst_t0: float, fifo: bool) -> None:
    t0 = time.perf_counter()
    handle = await runner.submit(ImageJob(req, "everyone" if fifo else user))
    row = {"user": user, "images": req.n, "eta": None, "start": None, "burst_t0": burst_t0,
           "promises": []}

    async def sink(event) -> None:
        if isinstance(event, JobQueued):
            row["promises"].append((time.perf_counter(), event.eta_s))
            if row["eta"] is None:
                row["eta"] = event.eta_s
        elif isinstance(event, JobProgress) and row["start"] is None:
            row["start"] = time.perf_counter()

    await handle.wait(sink)
    end = time.perf_counter()
    row["promise_errors"] = [abs(eta - (end - at)) / (end - at) for at, eta in row["promises"]]
    row["done"] = end - t0
    row["finished"] = time.perf_counter() - burst_t0
    row["wait"] = (row["start"] or time.perf_counter()) - t0
    rows.append(row)


async def fairness(engine: DiffusersEngine, users: int, seed: int, fifo: bool = False
                   ) -> tuple[list[dict], float]:
    rng = random.Random(seed)
    runner = LocalJobRunner(engine, max_batch_images=4)
    rows: list[dict] = []
    tasks = []
    t0 = time.perf_counter()
    # Teach the ETA model both batch keys, as a running server would already know them.
    for size in SIZES:
        await (await runner.submit(ImageJob(ImageRequest("warm", width=size, height=size,
                                                         steps=4), "warm"))).wait()
    t0 = time.perf_counter()
    plan = sorted((rng.uniform(0, 0.5), u) for u in range(users))
    for at, u in plan:
        await asyncio.sleep(max(0.0, at - (time.perf_counter() - t0)))
        burst_t0 = time.perf_counter()
        for j in range(rng.randint(2, 4)):
            size = rng.choice(SIZES)
            req = ImageRequest(f"a red ball {u}-{j}", n=rng.choice((1, 2)), width=size,
                               height=size, steps=4, guidance_scale=3.0, seed=u * 10 + j)
            tasks.append(asyncio.create_task(
                _job(runner, f"user{u:02d}", req, rows, burst_t0, fifo)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    await runner.close()
    return rows, elapsed


async def previews(engine: DiffusersEngine, interval_s: float, jobs: int = 6) -> float:
    """Preview time as a share of engine time, previews every `interval_s`."""
    runner = LocalJobRunner(engine, preview_interval_s=interval_s)
    t0 = time.perf_counter()
    for i in range(jobs):
        req = ImageRequest(f"a blue cup {i}", n=2, width=256, height=256, steps=8, seed=i)
        await (await runner.submit(ImageJob(req, "p"))).wait()
    busy = time.perf_counter() - t0
    share = runner.preview_seconds / busy
    await runner.close()
    return share


async def cancel_latency(engine: DiffusersEngine, tries: int = 5) -> tuple[float, float]:
    """Seconds from cancel to the job's end, and the step time, medians."""
    runner = LocalJobRunner(engine)
    stops, steps = [], []
    for i in range(tries):
        req = ImageRequest(f"a tall tower {i}", width=256, height=256, steps=40, seed=i)
        handle = await runner.submit(ImageJob(req, "c"))
        seen: list[float] = []
        started = asyncio.Event()

        async def sink(event, seen=seen, started=started) -> None:
            if isinstance(event, JobProgress):
                seen.append(time.perf_counter())
                if len(seen) >= 3:
                    started.set()

        waiting = asyncio.create_task(handle.wait(sink))
        await started.wait()
        steps.append(statistics.median(b - a for a, b in zip(seen, seen[1:], strict=False)))
        t0 = time.perf_counter()
        await runner.cancel(handle.id)
        try:
            await waiting
        except JobCancelled:
            stops.append(time.perf_counter() - t0)
    await runner.close()
    return statistics.median(stops), statistics.median(steps)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    engine = DiffusersEngine.load(str(default_model_dir()), device="cpu")
    engine.warm_up()

    rows, elapsed = await fairness(engine, args.users, args.seed)
    fifo_rows, fifo_elapsed = await fairness(engine, args.users, args.seed, fifo=True)
    print(f"queue: {args.users} users, {len(rows)} jobs, "
          f"{sum(r['images'] for r in rows)} images in {elapsed:.1f} s "
          f"(one FIFO line: {fifo_elapsed:.1f} s)")
    print(f"{'user':8} {'jobs':>4} {'images':>6} {'p50 wait s':>10} {'p99 wait s':>10} "
          f"{'all done s':>10} {'FIFO done s':>11}")
    fair, fifo = _by_user(rows), _by_user(fifo_rows)
    for user in sorted(fair):
        mine = fair[user]
        waits = [r["wait"] for r in mine]
        print(f"{user:8} {len(mine):4d} {sum(r['images'] for r in mine):6d} "
              f"{_pct(waits, .5):10.2f} {_pct(waits, .99):10.2f} "
              f"{max(r['finished'] for r in mine):10.2f} "
              f"{max(r['finished'] for r in fifo[user]):11.2f}")
    all_waits = [r["wait"] for r in rows]
    print(f"{'all':8} {len(rows):4d} {sum(r['images'] for r in rows):6d} "
          f"{_pct(all_waits, .5):10.2f} {_pct(all_waits, .99):10.2f}")
    j_fair, j_fifo = jain(_per_image(fair)), jain(_per_image(fifo))
    print(f"Jain's fairness index, wait per requested image: {j_fair:.3f} "
          f"(one FIFO line: {j_fifo:.3f}; target >= 0.9)")
    shown = [e for r in rows for e in r["promise_errors"]]
    first = [abs(r["eta"] - r["done"]) / r["done"] for r in rows if r["eta"] is not None]
    print(f"ETA error, median |promised - actual| / actual over every ETA shown: "
          f"{statistics.median(shown):.1%} (p90 {_pct(shown, .9):.1%}; {len(shown)} shown); "
          f"first promise only: {statistics.median(first):.1%}  (target <= 25%)")

    every = await previews(engine, 0.0)
    second = await previews(engine, 1.0)
    print(f"preview cost / generation time: {second:.2%} at one a second (the default), "
          f"{every:.2%} at every step  (target <= 5%)")
    stop, step = await cancel_latency(engine)
    print(f"cancel -> stopped: {stop * 1000:.0f} ms median, one step = {step * 1000:.0f} ms "
          f"-> {stop / step:.2f} steps  (target <= 1 step)")


if __name__ == "__main__":
    asyncio.run(main())
