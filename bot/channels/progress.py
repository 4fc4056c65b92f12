"""Throttled in-place edits of a working message (Discord's original message, Teams'
working card).

Engine steps arrive far faster than a chat lets a bot edit a message (Discord: a few per
second per webhook; Teams throttles too). Only the newest view matters (the text, or a `ProgressView` with the
place in line, the step and a preview), so updates overwrite each other and at most one
edit is sent per interval; an edit never waits for the engine, and the engine never
waits for an edit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Send = Callable[[Any], Awaitable[object]]  # the view: text, or anything the sender renders


class ProgressEditor:
    def __init__(self, send: Send, *, min_interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 name: str = "progress-edits") -> None:
        self._send = send
        self._sleep = sleep
        self._name = name
        self._interval = min_interval_s
        self._clock = clock
        self._latest: Any = None
        self._shown: Any = None
        self._last_sent = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._sending = False
        self._closed = False
        self.sent = 0

    def update(self, text: Any) -> None:
        """Show `text` (or a view) soon; replaces any not yet shown. Never blocks."""
        if self._closed:
            return
        self._latest = text
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._pump(), name=self._name)

    async def _pump(self) -> None:
        while not self._closed and self._latest is not None and self._latest != self._shown:
            wait = self._last_sent + self._interval - self._clock()
            if wait > 0:
                await self._sleep(wait)
                continue
            text = self._latest
            self._sending = True
            try:
                await self._send(text)
                self.sent += 1
            except Exception as exc:  # progress is best effort; the final edit is not
                log.info("progress edit failed: %s", exc)
            finally:
                self._sending = False
                self._shown = text
                self._last_sent = self._clock()

    async def close(self) -> None:
        """Stop editing. An edit already on the wire is awaited, so it cannot land after
        (and overwrite) the final message; a pending one is dropped."""
        self._closed = True
        task = self._task
        if task is None or task.done():
            return
        if not self._sending:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
