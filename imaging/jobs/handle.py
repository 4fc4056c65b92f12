"""The caller's side of a job: its events as they happen, then its result."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from imaging.jobs.model import EventSink, ImageJob, JobEvent, JobProgress

if TYPE_CHECKING:
    from imaging.engine import ImageResult


class JobHandle:
    """Events in order, then the result. Waiting is optional: an abandoned handle costs
    nothing, and a caller that stops waiting (its task is cancelled) cancels the job, so
    a turn nobody waits for costs no GPU time."""

    def __init__(self, job: ImageJob, cancel: Callable[[str], object]) -> None:
        self.job = job
        self._cancel = cancel
        self._events: deque[JobEvent] = deque()
        self._wake = asyncio.Event()
        self._result: asyncio.Future[ImageResult] = asyncio.get_running_loop().create_future()

    @property
    def id(self) -> str:
        return self.job.id

    def done(self) -> bool:
        return self._result.done()

    # ---- the runner's side -------------------------------------------------------
    def emit(self, event: JobEvent) -> None:
        if not self._result.done():
            self._events.append(event)
            self._wake.set()

    def finish(self, result: ImageResult) -> None:
        if not self._result.done():
            self._result.set_result(result)
            self._wake.set()

    def fail(self, exc: BaseException) -> None:
        if not self._result.done():
            self._result.set_exception(exc)
            self._result.exception()  # a handle nobody waits for is not an error to log
            self._wake.set()

    # ---- the caller's side -------------------------------------------------------
    async def result(self) -> ImageResult:
        try:
            return await asyncio.shield(self._result)
        except asyncio.CancelledError:
            if not self._result.done():
                self._cancel(self.job.id)
            raise

    async def wait(self, sink: EventSink | None = None) -> ImageResult:
        """Forward the events to `sink`, then return the result. A slow sink gets only
        the newest step: a step without a preview is skipped when a newer step waits.
        Events still waiting when the job ends are dropped: the result supersedes them."""
        try:
            while not self._result.done():
                if not self._events:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                event = self._events.popleft()
                if sink is None or self._superseded(event):
                    continue
                await sink(event)
        except asyncio.CancelledError:
            if not self._result.done():
                self._cancel(self.job.id)
            raise
        return await self.result()

    def _superseded(self, event: JobEvent) -> bool:
        return (isinstance(event, JobProgress) and event.preview is None
                and any(isinstance(e, JobProgress) for e in self._events))
