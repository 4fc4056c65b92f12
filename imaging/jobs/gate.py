"""A replica's door: calls enter Serve's batch queue only while its engine is free.

Why: Serve's batch loop (ray/serve/batching.py, `_process_batches`) forms the next batch
as soon as it has handed off the last one, from whatever arrived within the batch wait,
and that batch then waits for the running one. On a busy replica this makes small
batches, so a replica that could draw four images per pipeline call draws one or two.
Here calls that arrive while the engine runs wait at the door, and when it finishes they
go in together, up to one batch's images, in the order they came: the next batch is
formed from all of them at once. With the default of one call per replica
(`max_ongoing_requests: 1`) nobody waits here; it matters once an operator raises that
so that small batches from several bot processes share a pipeline call.
"""

from __future__ import annotations

import asyncio
from collections import deque


class BatchGate:
    def __init__(self, max_images: int) -> None:
        self.max_images = max(1, max_images)
        self.running = False
        self._forming: dict[str, int] = {}  # admitted, not yet in a started batch
        self._waiting: deque[tuple[str, int, asyncio.Future[None]]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _fits(self, images: int) -> bool:
        held = sum(self._forming.values())
        return held == 0 or held + images <= self.max_images

    async def enter(self, job_id: str, images: int) -> None:
        """Return once the job may join the batch being formed (cancellable)."""
        if not self.running and not self._waiting and self._fits(images):
            self._forming[job_id] = images
            return
        item = (job_id, images, asyncio.get_running_loop().create_future())
        self._waiting.append(item)
        try:
            await item[2]
        except asyncio.CancelledError:
            if item in self._waiting:
                self._waiting.remove(item)
            self.left(job_id)
            raise

    def left(self, job_id: str) -> None:
        """The job was cancelled before its batch started: its room is free again."""
        if self._forming.pop(job_id, None) is not None and not self.running:
            self._open()

    def started(self, job_ids: list[str]) -> None:
        self.running = True
        for job_id in job_ids:
            self._forming.pop(job_id, None)

    def finished(self) -> None:
        self.running = False
        self._open()

    def _open(self) -> None:
        while self._waiting and self._fits(self._waiting[0][1]):
            job_id, images, fut = self._waiting.popleft()
            if fut.done():  # its caller is gone
                continue
            self._forming[job_id] = images
            fut.set_result(None)
