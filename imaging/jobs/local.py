"""The in-process runner: the fair queue, engine threads, events back on the loop.

`submit` admits a job (quotas), queues it and returns its handle at once. A worker takes
the next fair batch (imaging/jobs/fair.py) and runs it as one pipeline call in the engine
thread, never on the event loop; `concurrency` workers run side by side (a remote
engine's `max_concurrency`). The step callback stops a batch whose jobs were all
cancelled, asks for a preview about once a second and emits `JobProgress` on the loop.
A remote engine (`agenerate`) runs on the loop, one job per call, cancelled at once with
its job. Waiting jobs hear their place in line (`JobQueued`) at most once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from imaging.engine import GenerationError, ImageEngine, Interrupted, StepInfo
from imaging.jobs.batch import Entry, RunningBatch
from imaging.jobs.eta import Throughput, positions
from imaging.jobs.fair import FairQueue
from imaging.jobs.handle import JobHandle
from imaging.jobs.model import (
    ImageJob,
    JobCancelled,
    JobInfo,
    JobMetrics,
    JobProgress,
    JobQueued,
    JobState,
    NoMetrics,
    QuotaExceeded,
    engine_failure,
)
from imaging.jobs.quotas import Quotas

log = logging.getLogger(__name__)


class LocalJobRunner:
    def __init__(self, engine: ImageEngine, *, max_batch_images: int | None = None,
                 quotas: Quotas | None = None, metrics: JobMetrics | None = None,
                 throughput: Throughput | None = None, announce_interval_s: float = 1.0,
                 preview_interval_s: float = 1.0, concurrency: int | None = None,
                 executor: Executor | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`executor`: the engine thread, shared by local engines on one device so two
        pipelines never fight over it (owned by the caller then; else made here)."""
        self.engine = engine
        self.max_batch_images = max_batch_images or engine.max_batch_images
        self.remote = hasattr(engine, "agenerate")
        self.concurrency = concurrency or getattr(engine, "max_concurrency", 1)
        self.quotas = quotas
        self.metrics = metrics or NoMetrics()
        self.throughput = throughput or Throughput()
        self.announce_interval_s = announce_interval_s
        self.preview_interval_s = preview_interval_s
        self.clock = clock
        self._queue: FairQueue[Entry] = FairQueue(self.max_batch_images, 1 if self.remote else None)
        self._jobs: dict[str, Entry] = {}  # every job not yet ended, by id
        self._running: list[RunningBatch] = []
        self._wake = asyncio.Event()
        self._dirty = asyncio.Event()
        self._owns_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix="easel-engine")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._workers: list[asyncio.Task[None]] = []
        self.batches_run = 0
        self.preview_seconds = 0.0  # engine-thread time spent making previews (bench)

    # ---- the contract ------------------------------------------------------------
    @property
    def queue_length(self) -> int:
        return len(self._queue)

    pending = queue_length  # /healthz's name for it

    def seconds_per_image(self) -> float | None:
        return self.throughput.per_image

    async def submit(self, job: ImageJob) -> JobHandle:
        if job.request.n > self.max_batch_images:
            raise GenerationError(f"at most {self.max_batch_images} images per request")
        if self.quotas is not None:
            try:
                await self.quotas.admit(job)
            except QuotaExceeded:
                self.metrics.job_ended("limited")
                raise
        self._start()
        entry = Entry(job, JobHandle(job, self._cancel_now))
        self._jobs[job.id] = entry
        self._queue.push(entry)
        self.metrics.queue_depth(len(self._queue))
        position, eta = self._positions().get(job.id, (1, 0.0))
        entry.announced(position, self.clock())
        entry.handle.emit(JobQueued(job.id, position, round(eta, 1)))
        self._wake.set()
        self._dirty.set()  # the others' ETAs may have moved; positions have not
        return entry.handle

    async def cancel(self, job_id: str, user: str | None = None) -> bool:
        entry = self._jobs.get(job_id)
        if entry is None or (user is not None and entry.job.user != user):
            return False
        return self._cancel_now(job_id)

    async def cancel_user(self, user: str) -> int:
        mine = [e.job.id for e in self._jobs.values() if e.job.user == user]
        return sum(self._cancel_now(job_id) for job_id in mine)

    def jobs_for(self, user: str) -> list[JobInfo]:
        positions = self._positions()
        out = []
        for e in self._jobs.values():
            if e.job.user != user:
                continue
            pos, eta = positions.get(e.job.id, (None, None))
            out.append(JobInfo(e.job.id, user, e.state, e.job.request.prompt, e.job.request.n,
                               pos, None if eta is None else round(eta, 1), e.step, e.total))
        return out

    async def close(self) -> None:
        for worker in self._workers:
            worker.cancel()
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        self._workers = []
        for entry in list(self._jobs.values()):
            self._end(entry, JobState.FAILED, GenerationError("the server is shutting down"))
        for task in list(self._tasks):
            task.cancel()
        if self._owns_executor:
            self._executor.shutdown(wait=True, cancel_futures=True)

    # ---- lifecycle -----------------------------------------------------------------
    def _start(self) -> None:
        if not self._workers:
            self._workers = [asyncio.create_task(self._run(), name=f"easel-job-runner-{i}")
                             for i in range(self.concurrency)]
            self._spawn(self._announce_forever(), "easel-job-positions")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_now(self, job_id: str) -> bool:
        entry = self._jobs.get(job_id)
        if entry is None or entry.cancel_requested:
            return False
        entry.cancel_requested = True
        if entry.state is JobState.QUEUED:
            self._queue.remove(entry)
            self.metrics.queue_depth(len(self._queue))
            self._end(entry, JobState.CANCELLED, JobCancelled("cancelled before it started"))
            self._dirty.set()
        # A running job stops at its next step (see `_on_step`); a remote call at once.
        for run in self._running:
            if run.task is not None and all(e.cancel_requested for e in run.entries):
                run.task.cancel()
        return True

    def _end(self, entry: Entry, state: JobState, error: BaseException | None = None) -> None:
        if entry.state in (JobState.DONE, JobState.FAILED, JobState.CANCELLED):
            return
        entry.state = state
        self._jobs.pop(entry.job.id, None)
        if error is not None:
            entry.handle.fail(error)
        self.metrics.job_ended(state.value)
        if self.quotas is not None:
            self._spawn(self.quotas.release(entry.job), "easel-quota-release")

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
                if self.remote:
                    run.task = asyncio.ensure_future(self.engine.agenerate(reqs, on_step))  # type: ignore[attr-defined]
                    results = await run.task
                else:
                    results = await loop.run_in_executor(
                        self._executor, self.engine.generate, reqs, on_step)
            except Interrupted:
                results = None  # every job of the batch was cancelled: nothing to deliver
            except asyncio.CancelledError:
                if run.task is None or not run.task.cancelled() or \
                        not all(e.cancel_requested for e in batch):
                    raise  # the runner itself is closing
                self._stop(batch)  # its call was cancelled with its jobs
                results = None
            except Exception as exc:
                err = engine_failure(exc, getattr(self.engine, "name", "engine"), len(batch))
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

    def _positions(self) -> dict[str, tuple[int, float]]:
        """Each waiting job's place in line and ETA, from the order the workers follow."""
        return positions(self._queue.plan(), self._running, self.throughput,
                         self.concurrency, self.clock())

    async def _announce_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            now = self.clock()
            next_due: float | None = None
            for job_id, (position, eta) in self._positions().items():
                entry = self._jobs.get(job_id)
                if entry is None or position == entry.sent_position:
                    continue
                due = entry.sent_at + self.announce_interval_s
                if now >= due:
                    entry.announced(position, now)
                    entry.handle.emit(JobQueued(job_id, position, round(eta, 1)))
                else:
                    next_due = due if next_due is None else min(next_due, due)
            if next_due is not None:
                loop.call_later(max(0.0, next_due - now), self._dirty.set)
