"""What every runner shares: admission, the fair queue, cancellation, places in line.

A runner admits a job (quotas), queues it and returns its handle at once; its own
workers take fair batches from the queue (`LocalJobRunner`: the engine thread here;
`RayJobRunner`: Ray Serve replicas). Waiting jobs hear their place in line
(`JobQueued`) whenever it changes, at most once a second, computed from the same plan
the workers follow; `/queue` and `/cancel` see the same entries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from imaging.engine import GenerationError
from imaging.jobs.batch import Entry, RunningBatch
from imaging.jobs.eta import Throughput, positions
from imaging.jobs.fair import FairQueue
from imaging.jobs.handle import JobHandle
from imaging.jobs.model import (
    ImageJob,
    JobCancelled,
    JobInfo,
    JobMetrics,
    JobQueued,
    JobState,
    NoMetrics,
    QuotaExceeded,
)
from imaging.jobs.quotas import Quotas

log = logging.getLogger(__name__)


class QueueingRunner:
    """The shared half of a runner. Subclasses start their workers in `_start_workers`,
    keep `_running` (the batches in progress, for ETAs) and stop a running job in
    `_cancel_running`."""

    def __init__(self, max_batch_images: int, *, max_batch_jobs: int | None = None,
                 quotas: Quotas | None = None, metrics: JobMetrics | None = None,
                 throughput: Throughput | None = None, announce_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_batch_images = max_batch_images
        self.quotas = quotas
        self.metrics = metrics or NoMetrics()
        self.throughput = throughput or Throughput()
        self.announce_interval_s = announce_interval_s
        self.clock = clock
        self._queue: FairQueue[Entry] = FairQueue(max_batch_images, max_batch_jobs)
        self._jobs: dict[str, Entry] = {}  # every job not yet ended, by id
        self._running: list[RunningBatch] = []
        self._wake = asyncio.Event()
        self._dirty = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._workers: list[asyncio.Task[None]] = []

    @property
    def lanes(self) -> int:
        """Batches that run side by side (ETAs drain that many times as fast)."""
        return 1

    # ---- the contract ------------------------------------------------------------
    @property
    def queue_length(self) -> int:
        return len(self._queue)

    pending = queue_length  # /healthz's name for it

    def seconds_per_image(self) -> float | None:
        return self.throughput.per_image

    async def submit(self, job: ImageJob, *, admitted: bool = False) -> JobHandle:
        """`admitted`: the quotas already counted this job (a job resumed after a restart)."""
        if job.request.n > self.max_batch_images:
            raise GenerationError(f"at most {self.max_batch_images} images per request")
        if self.quotas is not None and not admitted:
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

    async def jobs_for(self, user: str) -> list[JobInfo]:
        return self.snapshot(user)

    def snapshot(self, user: str | None = None) -> list[JobInfo]:
        """This process's open jobs (one user's, or everyone's) as `/queue` shows them."""
        positions = self._positions()
        out = []
        for e in self._jobs.values():
            if user is not None and e.job.user != user:
                continue
            pos, eta = positions.get(e.job.id, (None, None))
            out.append(JobInfo(e.job.id, e.job.user, e.state, e.job.request.prompt,
                               e.job.request.n, pos, None if eta is None else round(eta, 1),
                               e.step, e.total))
        return out

    async def _stop_workers(self, reason: str) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        for entry in list(self._jobs.values()):
            self._end(entry, JobState.FAILED, GenerationError(reason))
        for task in list(self._tasks):
            task.cancel()

    # ---- lifecycle -----------------------------------------------------------------
    def _start(self) -> None:
        if not self._workers:
            self._workers = self._start_workers()
            self._spawn(self._announce_forever(), "easel-job-positions")

    def _start_workers(self) -> list[asyncio.Task[None]]:
        raise NotImplementedError

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

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
        else:
            self._cancel_running(entry)
        return True

    def _cancel_running(self, entry: Entry) -> None:
        raise NotImplementedError

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

    def _positions(self) -> dict[str, tuple[int, float]]:
        """Each waiting job's place in line and ETA, from the order the workers follow."""
        return positions(self._queue.plan(), self._running, self.throughput, self.lanes,
                         self.clock())

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
