"""The Ray Serve runner: the bot's fair queue decides the order, replicas draw.

The queue, quotas and places in line are `QueueingRunner`'s, as for the local runner.
A dispatcher hands the next fair batch to Serve only while the cluster has room for it
(replicas x max batch images, shared by every bot process through `ClusterSlots`), so
Serve's own first-in-first-out queue never holds more than the replicas can start and
cannot reorder users. Each job is one streamed call (`Workers.stream`); its events come
back as `JobProgress`, its last one with the pictures.

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
from typing import Any, Protocol

from imaging.engine import GenerationError, ImageResult
from imaging.jobs.batch import Entry, RunningBatch
from imaging.jobs.eta import Throughput
from imaging.jobs.model import JobCancelled, JobMetrics, JobProgress, JobState
from imaging.jobs.queueing import QueueingRunner
from imaging.jobs.quotas import Quotas
from imaging.jobs.wire import image_from_wire, request_to_dict

log = logging.getLogger(__name__)

CAPACITY_REFRESH_S = 2.0  # how often the replica count is read (autoscaling moves it)


class WorkerCall(Protocol):
    def __aiter__(self) -> AsyncIterator[dict[str, Any]]: ...

    def cancel(self) -> None: ...


class Workers(Protocol):
    """The cluster's side (imaging/jobs/ray_cluster.py: a Serve deployment handle)."""

    name: str

    def stream(self, job: dict[str, Any]) -> WorkerCall: ...

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
        self._calls: dict[str, WorkerCall] = {}
        self._drivers: set[asyncio.Task[None]] = set()
        self.redispatched = 0  # jobs sent again after a replica died
        self.batches: OrderedDict[str, dict[str, Any]] = OrderedDict()  # job -> its replica batch

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
        call = self._calls.get(entry.job.id)
        if call is not None:
            call.cancel()  # Serve cancels it in the replica: dropped, or stopped at a step

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
            held = sum(e.request.n for e in self._dispatched())
            batch = self._queue.take_batch(capacity - held) if capacity > held else []
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
                task = asyncio.create_task(self._drive(entry, run), name=f"easel-ray-{entry.job.id}")
                self._drivers.add(task)
                task.add_done_callback(self._drivers.discard)
            self._dirty.set()

    def _dispatched(self) -> list[Entry]:
        return [e for run in self._running for e in run.entries if e.state is JobState.RUNNING]

    async def _drive(self, entry: Entry, run: RunningBatch) -> None:
        job = entry.job
        payload = {"id": job.id, "request": request_to_dict(job.request)}
        try:
            for attempt in range(1, self.max_attempts + 1):
                call = self.workers.stream(payload)
                self._calls[job.id] = call
                try:
                    if await self._follow(entry, call):
                        return
                    raise GenerationError("the image worker ended the job without a result")
                except Exception as exc:
                    if entry.cancel_requested or self.workers.cancelled(exc):
                        self._end(entry, JobState.CANCELLED, JobCancelled("cancelled while it ran"))
                        return
                    if not self.workers.lost(exc):
                        raise
                    if attempt == self.max_attempts:
                        log.error("job %s: replicas died %d times; giving up", job.id, attempt)
                        raise GenerationError(
                            f"the image workers stopped {attempt} times while drawing this"
                        ) from exc
                    log.warning("job %s: its replica died (%s); sending it again (%d/%d)",
                                job.id, type(exc).__name__, attempt + 1, self.max_attempts)
                    self.redispatched += 1
                    await asyncio.sleep(self.retry_delay_s)
        except GenerationError as exc:
            self._end(entry, JobState.FAILED, exc)
        except Exception as exc:
            log.exception("job %s failed on %s", job.id, self.workers.name)
            err = GenerationError(f"the image workers failed ({type(exc).__name__})")
            err.__cause__ = exc
            self._end(entry, JobState.FAILED, err)
        finally:
            self._calls.pop(job.id, None)
            if entry.state is JobState.RUNNING:  # a cancelled driver (the runner closes)
                self._end(entry, JobState.FAILED, GenerationError("the server is shutting down"))
            if all(e.state is not JobState.RUNNING for e in run.entries) and run in self._running:
                self._running.remove(run)
            await self.slots.release(job.id)
            self._wake.set()
            self._dirty.set()

    async def _follow(self, entry: Entry, call: WorkerCall) -> bool:
        """Pass the replica's events on; True once the job ended (any outcome)."""
        async for event in call:
            kind = event["type"]
            if kind == "progress":
                if entry.state is JobState.RUNNING and event["step"] > entry.step:
                    entry.step, entry.total = event["step"], event["total"]
                    preview = event.get("preview")
                    entry.handle.emit(JobProgress(entry.job.id, event["step"], event["total"],
                                                  image_from_wire(preview) if preview else None))
            elif kind == "result":
                self._finished(entry, event)
                return True
            elif kind == "cancelled":
                self._end(entry, JobState.CANCELLED, JobCancelled("cancelled while it ran"))
                return True
            else:
                raise GenerationError(event.get("message") or "the image model failed")
        return False

    def _finished(self, entry: Entry, event: dict[str, Any]) -> None:
        batch = event["batch"]
        self.batches[entry.job.id] = batch
        while len(self.batches) > 256:
            self.batches.popitem(last=False)
        if entry.cancel_requested:
            self._end(entry, JobState.CANCELLED, JobCancelled("cancelled while it ran"))
            return
        req = entry.job.request
        result = ImageResult(req, [image_from_wire(w) for w in event["images"]],
                             list(event["seeds"]), revised_prompt=event.get("revised_prompt"))
        # A replica's batch time is shared by its jobs (one pipeline call for all).
        self.throughput.observe([req], batch["seconds"] / max(1, batch["jobs"]))
        self.metrics.batch_ran(self.workers.name, batch["seconds"], req.n)
        entry.handle.finish(result)
        self._end(entry, JobState.DONE)
