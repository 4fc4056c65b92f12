"""Background tasks owned by the app: tracked, logged, and cancelled on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any

log = logging.getLogger(__name__)


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Awaitable[Any], name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(work)
        if name is not None:
            task.set_name(name)
        self._tasks.add(task)  # keep a reference: the loop holds only weak ones
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    def snapshot(self) -> frozenset[asyncio.Task[Any]]:
        """The tasks running now (tests wait for a turn's work while the app's forever
        tasks, such as the image purge, keep running)."""
        return frozenset(self._tasks)

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Wait until every task spawned so far has finished (tests, graceful stop)."""
        if self._tasks:
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), timeout)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
