"""The in-process job queue: fair across users, batched, one worker thread.

Jobs wait per user and are taken round-robin, so one user asking for many images does
not starve everybody else. When the worker frees up it takes the next user's job plus
compatible jobs of the following users (same size and steps) up to the engine's batch
limit, and runs them as one pipeline call in the engine thread: never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from imaging.engine import GenerationError, ImageEngine, ImageRequest, ImageResult

log = logging.getLogger(__name__)

Progress = Callable[[int, int], Awaitable[None]]


@dataclass(slots=True)
class _Job:
    user: str
    request: ImageRequest
    future: asyncio.Future[ImageResult]
    progress: Progress | None = None
    last_progress: list[int] = field(default_factory=lambda: [0])


class JobRunner:
    def __init__(self, engine: ImageEngine, *, max_batch_images: int | None = None) -> None:
        self.engine = engine
        self.max_batch_images = max_batch_images or engine.max_batch_images
        self._queues: OrderedDict[str, deque[_Job]] = OrderedDict()
        self._wake = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="easel-engine")
        self._worker: asyncio.Task[None] | None = None
        self.batches_run = 0
        self.pending = 0

    async def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="easel-job-runner")

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        for q in self._queues.values():
            for job in q:
                if not job.future.done():
                    job.future.set_exception(GenerationError("the server is shutting down"))
        self._queues.clear()
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def submit(self, request: ImageRequest, *, user: str,
                     progress: Progress | None = None) -> ImageResult:
        if request.n > self.max_batch_images:
            raise GenerationError(f"at most {self.max_batch_images} images per request")
        await self.start()
        loop = asyncio.get_running_loop()
        job = _Job(user=user, request=request, future=loop.create_future(), progress=progress)
        self._queues.setdefault(user, deque()).append(job)
        self.pending += 1
        self._wake.set()
        try:
            return await job.future
        except asyncio.CancelledError:
            self._drop(job)  # a cancelled turn should not cost GPU time
            raise

    def _drop(self, job: _Job) -> None:
        q = self._queues.get(job.user)
        if q and job in q:
            q.remove(job)
            self.pending -= 1
            if not q:
                del self._queues[job.user]

    def _take_batch(self) -> list[_Job]:
        """Round-robin over users: the first user's oldest job, then compatible jobs from
        the users after it, each user contributing at most one job per round."""
        if not self._queues:
            return []
        user, q = next(iter(self._queues.items()))
        first = q.popleft()
        self._queues.move_to_end(user)  # this user goes to the back of the line
        if not q:
            del self._queues[user]
        batch, images = [first], first.request.n
        key = first.request.batch_key()
        for other_user in list(self._queues):
            oq = self._queues[other_user]
            cand = oq[0]
            if cand.request.batch_key() != key or images + cand.request.n > self.max_batch_images:
                continue
            oq.popleft()
            self._queues.move_to_end(other_user)
            if not oq:
                del self._queues[other_user]
            batch.append(cand)
            images += cand.request.n
        self.pending -= len(batch)
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = self._take_batch()
            if not batch:
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [j for j in batch if not j.future.done()]
            if not batch:
                continue

            def on_step(step: int, total: int, _batch: list[_Job] = batch) -> None:
                # Called in the engine thread: hop back to the loop to notify channels.
                loop.call_soon_threadsafe(self._notify, _batch, step, total)

            try:
                results = await loop.run_in_executor(
                    self._executor, self.engine.generate, [j.request for j in batch], on_step
                )
            except asyncio.CancelledError:
                for j in batch:
                    if not j.future.done():
                        j.future.set_exception(GenerationError("the server is shutting down"))
                raise
            except Exception as exc:
                # The operator needs the traceback; the user gets the short message.
                log.exception("image engine failed on a batch of %d job(s)", len(batch))
                if isinstance(exc, GenerationError):
                    err = exc
                else:
                    err = GenerationError(f"the image model failed ({type(exc).__name__})")
                    err.__cause__ = exc  # `raise ... from exc`, for a future set elsewhere
                for j in batch:
                    if not j.future.done():
                        j.future.set_exception(err)
                continue
            self.batches_run += 1
            for j, res in zip(batch, results, strict=True):
                if not j.future.done():
                    j.future.set_result(res)

    def _notify(self, batch: list[_Job], step: int, total: int) -> None:
        for j in batch:
            if j.progress is not None and step > j.last_progress[0]:
                j.last_progress[0] = step
                task = asyncio.ensure_future(j.progress(step, total))
                task.add_done_callback(_log_progress_error)


def _log_progress_error(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("progress update failed: %s", task.exception())
