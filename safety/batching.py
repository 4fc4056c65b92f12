"""Micro-batching: concurrent callers' items share one blocking call in a worker thread.

A turn's text check is one short prompt, and 20 conversations at once would otherwise be
20 encoder passes (and 20 thread hops) one after another.  `MicroBatcher` collects what
arrives while the worker is busy (and within `window_s` of the first arrival when it is
idle) and runs it as one call: under load every batch holds what piled up during the
previous one, and an idle gate adds no wait beyond one event-loop tick.

A failure stays with the callers that cause it: when a merged call raises, its callers are
retried in halves until each failing caller stands alone, and only those get the error (the
gate then fails closed for their turns).  Bisection rather than one call per caller: one bad
text among 64 costs ~13 calls, not 64, so a user sending bad text in a loop cannot turn every
batch into single calls.  A failure of everything (a broken model) ends in every caller
getting the error, after at most 2n - 1 quick failed calls.  A caller that was cancelled
simply gets nothing.  The batcher holds no loop-bound state between batches, so one
classifier can serve several event loops (tests, the CLI).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class _Waiting(Generic[T, R]):
    items: Sequence[T]
    future: asyncio.Future[list[R]]


@dataclass
class _LoopState(Generic[T, R]):
    waiting: list[_Waiting[T, R]] = field(default_factory=list)
    scheduled: bool = False
    running: bool = False


class MicroBatcher(Generic[T, R]):
    """`await batcher(items)` -> `run(items)`'s results, with `run` called on merged batches
    in a worker thread.  `run` must return one result per item, in order."""

    def __init__(self, run: Callable[[list[T]], list[R]], *, max_batch: int = 64,
                 window_s: float = 0.0) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.run = run
        self.max_batch = max_batch
        self.window_s = window_s
        self.batches = 0  # calls of `run` so far: tests and benchmarks read it
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState[T, R]] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, items: Sequence[T]) -> list[R]:
        if not items:
            return []
        loop = asyncio.get_running_loop()
        state = self._states.setdefault(loop, _LoopState())
        waiting = _Waiting[T, R](items, loop.create_future())
        state.waiting.append(waiting)
        if not state.running and not state.scheduled:
            state.scheduled = True
            if self.window_s > 0:
                loop.call_later(self.window_s, self._start, loop, state)
            else:
                loop.call_soon(self._start, loop, state)  # callers of this same tick join
        return await waiting.future

    def _start(self, loop: asyncio.AbstractEventLoop, state: _LoopState[T, R]) -> None:
        state.scheduled = False
        if state.running or not state.waiting:
            return
        batch: list[_Waiting[T, R]] = []
        size = 0
        while state.waiting and (not batch or size + len(state.waiting[0].items) <= self.max_batch):
            entry = state.waiting.pop(0)
            if entry.future.cancelled():
                continue
            batch.append(entry)
            size += len(entry.items)
        if not batch:
            return
        state.running = True
        task = loop.create_task(self._run(batch))
        task.add_done_callback(lambda _: self._finished(loop, state))

    async def _run(self, batch: list[_Waiting[T, R]]) -> None:
        outcomes = await asyncio.to_thread(self._isolating, [entry.items for entry in batch])
        for entry, outcome in zip(batch, outcomes, strict=True):
            if entry.future.done():
                continue
            if isinstance(outcome, Exception):
                entry.future.set_exception(outcome)
            else:
                entry.future.set_result(outcome)

    def _isolating(self, groups: list[Sequence[T]], depth: int = 0) -> list[list[R] | Exception]:
        """In the worker thread: each caller's results, or the error its items caused."""
        flat = [item for items in groups for item in items]
        self.batches += 1
        try:
            results = self.run(flat)
            if len(results) != len(flat):
                raise RuntimeError(f"batch call returned {len(results)} results for {len(flat)} items")
        except Exception as exc:  # noqa: BLE001 - handed to the callers that caused it
            if len(groups) == 1:
                return [exc]
            # Once per batch: the halves' own failures would only repeat it.
            log.log(logging.DEBUG if depth else logging.WARNING,
                    "a batch of %d callers failed (%s: %s); retrying it in halves",
                    len(groups), type(exc).__name__, exc)
            half = len(groups) // 2
            return self._isolating(groups[:half], depth + 1) + self._isolating(groups[half:], depth + 1)
        outcomes: list[list[R] | Exception] = []
        start = 0
        for items in groups:
            outcomes.append(results[start : start + len(items)])
            start += len(items)
        return outcomes

    def _finished(self, loop: asyncio.AbstractEventLoop, state: _LoopState[T, R]) -> None:
        state.running = False
        if state.waiting:
            # What piled up while the worker was busy has waited long enough: go at once.
            self._start(loop, state)
