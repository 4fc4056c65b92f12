"""The Ray Serve runner: the bot's fair queue decides the order, replicas draw.

The queue, quotas and places in line are `QueueingRunner`'s, as for the local runner.
A dispatcher hands the next fair batch to Serve only while the cluster has room for it
(replicas x max batch images, shared by every bot process through `ClusterSlots`), so
Serve's own first-in-first-out queue never holds more than the replicas can start and
cannot reorder users. Each fair batch is one streamed call (`Workers.stream`), so its
jobs reach one replica together and share a pipeline call there; their events come back
as `JobProgress`, the last one of each job with its pictures. A job cancelled while its
batch runs ends at once; the call itself is cancelled when all of its jobs are.

A replica that dies mid-job (process killed, node lost) ends the stream with Ray's
actor error: the job goes to Serve again, up to `max_attempts`, then fails with a
sentence for the user. A job has one handle, so its caller hears exactly one outcome.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from imaging.engine import GenerationError, ImageResult
from imaging.jobs.batch import Entry, RunningBatch
from imaging.jobs.eta import Throughput
from imaging.jobs.model import JobCancelled, JobMetrics, JobProgress, JobState
from imaging.jobs.queueing import QueueingRunner
from imaging.jobs.quotas import Quotas
from imaging.jobs.wire import (
    BatchCall,
    BatchInfo,
    ResultEvent,
    WorkerEvent,
    image_from_wire,
    request_to_dict,
)

log = logging.getLogger(__name__)

CAPACITY_REFRESH_S = 2.0  # how often the replica count is read (autoscaling moves it)


class WorkerStream(Protocol):
    """A streamed call: lists of events (imaging/jobs/wire.py `WorkerEvent`) for its jobs."""

    def __aiter__(self) -> AsyncIterator[list[WorkerEvent]]: ...

    def cancel(self) -> None: ...


class Workers(Protocol):
    """The cluster's side (imaging/jobs/ray_cluster.py: a Serve deployment handle)."""

    name: str

    def stream(self, call: BatchCall) -> WorkerStream:
        """Start `{"jobs": [{"id", "request"}, ...]}` on a replica."""
        ...

    async def capacity(self) -> int:
        """Images the cluster can run at once now (replicas x max batch images)."""
        ...

    def lost(self, exc: BaseException) -> bool:
        """Whether an error means the replica died (so the job may run elsewhere)."""
        ...

    def cancelled(self, exc: BaseException) -> bool: ...


class ClusterSlots(Protocol):
    """Room on the cluster, shared by bot processes (imaging/jobs/records.py)."""

    async def acquire(self, job_id: str, images: int, capacity: int) -> bool: ...

    async def release(self, job_id: str) -> None: ...


class _LocalSlots:
    """One bot process: the room is this process's to count."""

    def __init__(self) -> None:
        self._held: dict[str, int] = {}

    async def acquire(self, job_id: str, images: int, capacity: int) -> bool:
        if sum(self._held.values()) + images > capacity:
            return False
        self._held[job_id] = images
        return True

    async def release(self, job_id: str) -> None:
        self._held.pop(job_id, None)


class RayJobRunner(QueueingRunner):
    def __init__(self, workers: Workers, max_batch_images: int, *,
                 slots: ClusterSlots | None = None, quotas: Quotas | None = None,
                 metrics: JobMetrics | None = None, throughput: Throughput | None = None,
                 max_attempts: int = 3, retry_delay_s: float = 0.5,
                 announce_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(max_batch_images, quotas=quotas, metrics=metrics,
                         throughput=throughput, announce_interval_s=announce_interval_s,
                         clock=clock)
        self.workers = workers
        self.slots = slots or _LocalSlots()
        self.max_attempts = max_attempts
        self.retry_delay_s = retry_delay_s
        self._capacity = max_batch_images
        self._capacity_at = float("-inf")
        self._calls: dict[str, tuple[WorkerStream, list[Entry]]] = {}  # job -> its call
        self._drivers: set[asyncio.Task[None]] = set()
        self.redispatched = 0  # jobs sent again after a replica died
        self.batches: OrderedDict[str, BatchInfo] = OrderedDict()  # job -> its replica batch

    @property
    def lanes(self) -> int:
        return max(1, self._capacity // max(1, self.max_batch_images))

    async def close(self) -> None:
        for task in list(self._drivers):
            task.cancel()
        await asyncio.gather(*self._drivers, return_exceptions=True)
        await self._stop_workers("the server is shutting down")

    def _start_workers(self) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self._dispatch_forever(), name="easel-ray-dispatch")]

    def _cancel_running(self, entry: Entry) -> None:
        held = self._calls.get(entry.job.id)
        if held is None:
            return
        call, jobs = held
        if all(e.cancel_requested or e.state is not JobState.RUNNING for e in jobs):
            call.cancel()  # Serve cancels it in the replica: dropped, or stopped at a step
        else:  # its batch draws on for the others; the user hears now, the picture is dropped
            self._end(entry, JobState.CANCELLED, JobCancelled("cancelled while it ran"))
            self._dirty.set()

    # ---- dispatch --------------------------------------------------------------------
    async def _room(self) -> int:
        now = self.clock()
        if now - self._capacity_at >= CAPACITY_REFRESH_S:
            try:
                self._capacity = max(1, await self.workers.capacity())
            except Exception as exc:  # keep the last known figure; the cluster may be busy
                log.warning("could not read the cluster's replicas: %s", exc)
            self._capacity_at = now
        return self._capacity

    async def _dispatch_forever(self) -> None:
        while True:
            capacity = await self._room()
            # A call holds its room until it ends, even if some of its jobs were cancelled.
            room = capacity - sum(e.request.n for run in self._running for e in run.entries)
            # Only a whole batch's room (as full as the queue can make one): a partial
            # batch sent beside a running one would wait for it and then run half full,
            # and every batch after it too, since room frees a batch at a time.
            want = min(self.max_batch_images, self._queue.next_batch_images())
            batch = self._queue.take_batch(room) if room > 0 and room >= want else []
            if not batch:
                self._wake.clear()
                # Woken by a new job or a finished one; the timeout re-reads the replica
                # count and retries the shared slots (another bot process may free room).
                # `asyncio.timeout`, not `wait_for`: on 3.11 `wait_for` swallows a cancel
                # that lands as the event fires (gh-86296), and `close` would wait forever.
                try:
                    async with asyncio.timeout(CAPACITY_REFRESH_S / 4):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                continue
            taken = []
            for entry in batch:
                if await self.slots.acquire(entry.job.id, entry.request.n, capacity):
                    taken.append(entry)
                else:
                    self._queue.push_front(entry)  # the cluster is full (other bots): wait
            if not taken:
                await asyncio.sleep(0.05)
                continue
            self.metrics.queue_depth(len(self._queue))
            now = self.clock()
            run = RunningBatch(taken, started=now,
                               expected_s=sum(self.throughput.seconds(e.request) for e in taken))
            self._running.append(run)
            for entry in taken:
                entry.state = JobState.RUNNING
                self.metrics.job_waited(now - entry.job.submitted)
            task = asyncio.create_task(self._drive(run), name=f"easel-ray-{taken[0].job.id}")
            self._drivers.add(task)
            task.add_done_callback(self._drivers.discard)
            self._dirty.set()

    async def _drive(self, run: RunningBatch) -> None:
        """One streamed call for the whole fair batch (its jobs reach one replica together,
        so they share a pipeline call); sent again, the unfinished ones, if it dies."""
        entries: list[Entry] = run.entries
        try:
            for attempt in range(1, self.max_attempts + 1):
                live = [e for e in entries if e.state is JobState.RUNNING]
                if not live:
                    return
                call = self.workers.stream({"jobs": [
                    {"id": e.job.id, "request": request_to_dict(e.job.request)} for e in live]})
                for e in live:
                    self._calls[e.job.id] = (call, live)
                try:
                    await self._follow({e.job.id: e for e in live}, call)
                    if any(e.state is JobState.RUNNING for e in live):
                        raise GenerationError("the image worker ended the job without a result")
                    return
                except Exception as exc:
                    if self.workers.cancelled(exc) or all(
                            e.cancel_requested for e in live if e.state is JobState.RUNNING):
                        self._end_all(live, JobState.CANCELLED,
                                      JobCancelled("cancelled while it ran"))
                        return
                    if not self.workers.lost(exc):
                        raise
                    if attempt == self.max_attempts:
                        log.error("jobs %s: replicas died %d times; giving up",
                                  [e.job.id for e in live], attempt)
                        raise GenerationError(
                            f"the image workers stopped {attempt} times while drawing this"
                        ) from exc
                    again = [e for e in live if e.state is JobState.RUNNING]
                    log.warning("jobs %s: their replica died (%s); sending them again (%d/%d)",
                                [e.job.id for e in again], type(exc).__name__, attempt + 1,
                                self.max_attempts)
                    self.redispatched += len(again)
                    await asyncio.sleep(self.retry_delay_s)
        except GenerationError as exc:
            self._end_all(entries, JobState.FAILED, exc)
        except Exception as exc:
            log.exception("jobs %s failed on %s", [e.job.id for e in entries], self.workers.name)
            err = GenerationError(f"the image workers failed ({type(exc).__name__})")
            err.__cause__ = exc
            self._end_all(entries, JobState.FAILED, err)
        finally:
            for e in entries:
                self._calls.pop(e.job.id, None)
            # A cancelled driver (the runner closes) leaves jobs running.
            self._end_all(entries, JobState.FAILED, GenerationError("the server is shutting down"))
            if run in self._running:
                self._running.remove(run)
            for e in entries:
                await self.slots.release(e.job.id)
            self._wake.set()
            self._dirty.set()

    def _end_all(self, entries: list[Entry], state: JobState, exc: BaseException) -> None:
        for e in entries:
            if e.state is JobState.RUNNING:
                self._end(e, state, exc)

    async def _follow(self, live: dict[str, Entry], call: WorkerStream) -> None:
        """Pass the replica's events on until each of the call's jobs has ended."""
        async for events in call:
            for event in events:
                entry = live.get(event["job"])
                if entry is None or entry.state is not JobState.RUNNING:
                    continue  # cancelled here already: its picture is dropped
                if event["type"] == "progress":
                    if event["step"] > entry.step:
                        entry.step, entry.total = event["step"], event["total"]
                        preview = event["preview"]
                        entry.handle.emit(JobProgress(entry.job.id, event["step"],
                                                      event["total"],
                                                      image_from_wire(preview) if preview else None))
                elif event["type"] == "result":
                    self._finished(entry, event)
                elif event["type"] == "cancelled":
                    self._end(entry, JobState.CANCELLED, JobCancelled("cancelled while it ran"))
                else:
                    self._end(entry, JobState.FAILED,
                              GenerationError(event["message"] or "the image model failed"))
            if all(e.state is not JobState.RUNNING for e in live.values()):
                return

    def _finished(self, entry: Entry, event: ResultEvent) -> None:
        batch = event["batch"]
        self.batches[entry.job.id] = batch
        while len(self.batches) > 256:
            self.batches.popitem(last=False)
        if entry.cancel_requested:
            self._end(entry, JobState.CANCELLED, JobCancelled("cancelled while it ran"))
            return
        req = entry.job.request
        result = ImageResult(req, [image_from_wire(w) for w in event["images"]],
                             list(event["seeds"]), revised_prompt=event["revised_prompt"])
        # A replica's batch time is shared by its jobs (one pipeline call for all).
        self.throughput.observe([req], batch["seconds"] / max(1, batch["jobs"]))
        self.metrics.batch_ran(self.workers.name, batch["seconds"], req.n)
        entry.handle.finish(result)
        self._end(entry, JobState.DONE)
