"""The in-process runner: the fair queue, engine threads, events back on the loop.

Admission, queueing and places in line are `QueueingRunner`'s. A worker takes
the next fair batch (imaging/jobs/fair.py) and runs it as one pipeline call in the engine
thread (the engine's `agenerate` hops there), never on the event loop; `concurrency`
workers run side by side (the engine's `max_concurrency`). The step callback stops a batch
whose jobs were all cancelled, asks for a preview about once a second and emits
`JobProgress` on the loop. A remote engine (`identity.remote`) takes one job per call, and
its call is dropped at once with its job.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable

from imaging.engine import ImageEngine, Interrupted, StepInfo
from imaging.jobs.batch import Entry, RunningBatch
from imaging.jobs.eta import Throughput
from imaging.jobs.model import JobCancelled, JobMetrics, JobProgress, JobState, engine_failure
from imaging.jobs.queueing import QueueingRunner
from imaging.jobs.quotas import Quotas

log = logging.getLogger(__name__)


class LocalJobRunner(QueueingRunner):
    def __init__(self, engine: ImageEngine, *, max_batch_images: int | None = None,
                 quotas: Quotas | None = None, metrics: JobMetrics | None = None,
                 throughput: Throughput | None = None, announce_interval_s: float = 1.0,
                 preview_interval_s: float = 1.0, concurrency: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        remote = engine.identity.remote
        super().__init__(max_batch_images or engine.max_batch_images,
                         max_batch_jobs=1 if remote else None, quotas=quotas, metrics=metrics,
                         throughput=throughput, announce_interval_s=announce_interval_s,
                         clock=clock)
        self.engine = engine
        self.remote = remote
        timing = engine.warm_up_timing  # (request, seconds) at start-up: the first ETAs
        if timing is not None:
            self.throughput.seed(*timing)
        self.concurrency = concurrency or engine.max_concurrency
        self.preview_interval_s = preview_interval_s
        self.batches_run = 0
        self.preview_seconds = 0.0  # engine-thread time spent making previews (bench)

    @property
    def lanes(self) -> int:
        return self.concurrency

    async def close(self) -> None:
        await self._stop_workers("the server is shutting down")

    def _start_workers(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self._run(), name=f"easel-job-runner-{i}")
                for i in range(self.concurrency)]

    def _cancel_running(self, entry: Entry) -> None:
        # A running job stops at its next step (see `_on_step`); a remote call at once.
        for run in self._running:
            if run.task is not None and all(e.cancel_requested for e in run.entries):
                run.task.cancel()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = self._queue.take_batch()
            if not batch:
                self._wake.clear()
                await self._wake.wait()
                continue
            self.metrics.queue_depth(len(self._queue))
            now = self.clock()
            for e in batch:
                e.state = JobState.RUNNING
                self.metrics.job_waited(now - e.job.submitted)
            reqs = [e.job.request for e in batch]
            run = RunningBatch(batch, started=now,
                               expected_s=sum(self.throughput.seconds(r) for r in reqs))
            self._running.append(run)
            self._dirty.set()
            t0 = time.perf_counter()
            on_step = functools.partial(self._on_step, loop, run)
            try:
                call = self.engine.agenerate(reqs, on_step)
                if self.remote:  # dropped at once with its jobs (see `_cancel_running`)
                    run.task = asyncio.ensure_future(call)
                    results = await run.task
                else:  # stops at its next step once its jobs are cancelled (`_on_step`)
                    results = await call
            except Interrupted:
                results = None  # every job of the batch was cancelled: nothing to deliver
            except asyncio.CancelledError:
                if run.task is None or not run.task.cancelled() or \
                        not all(e.cancel_requested for e in batch):
                    raise  # the runner itself is closing
                self._stop(batch)  # its call was cancelled with its jobs
                results = None
            except Exception as exc:
                err = engine_failure(exc, self.engine.name, len(batch))
                for e in batch:
                    self._end(e, JobState.FAILED, err)
                continue
            finally:
                self._running.remove(run)
                self._dirty.set()
            seconds = time.perf_counter() - t0
            self.batches_run += 1
            self.preview_seconds += run.preview_s
            if results is None:
                continue
            self.throughput.observe(reqs, seconds)
            self.metrics.batch_ran(self.engine.name, seconds, sum(r.n for r in reqs))
            for e, res in zip(batch, results, strict=True):
                if e.cancel_requested:
                    self._end(e, JobState.CANCELLED, JobCancelled("cancelled while it ran"))
                elif e.state is JobState.RUNNING:
                    e.handle.finish(res)
                    self._end(e, JobState.DONE)

    # ---- engine thread -------------------------------------------------------------
    def _on_step(self, loop: asyncio.AbstractEventLoop, run: RunningBatch, info: StepInfo
                 ) -> None:
        cancelled = [e for e in run.entries if e.cancel_requested]
        if cancelled:
            loop.call_soon_threadsafe(self._stop, cancelled)
            if len(cancelled) == len(run.entries):
                raise Interrupted("every job in the batch was cancelled")
        previews = None
        now = self.clock()
        if run.preview_due(info.step, info.total, now, self.preview_interval_s):
            t0 = time.perf_counter()
            try:
                previews = info.previews()
            except Exception:  # a preview is a nicety; the picture must not fail for it
                log.exception("preview failed")
            run.preview_s += time.perf_counter() - t0
            if previews is not None:
                run.shown(now)
        loop.call_soon_threadsafe(self._progress, run, info.step, info.total, previews)

    def _stop(self, entries: list[Entry]) -> None:
        for e in entries:
            self._end(e, JobState.CANCELLED, JobCancelled("cancelled while it ran"))

    def _progress(self, run: RunningBatch, step: int, total: int, previews: list | None) -> None:
        for e, preview in zip(run.entries, run.split(previews), strict=True):
            if e.state is JobState.RUNNING and step > e.step:
                e.step, e.total = step, total
                e.handle.emit(JobProgress(e.job.id, step, total, preview))
