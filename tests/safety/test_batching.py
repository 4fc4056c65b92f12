"""Micro-batching: concurrent callers share one blocking call, errors reach every caller."""

from __future__ import annotations

import asyncio
import threading

import pytest

from safety.batching import MicroBatcher


class Recorder:
    """A batch function that records each call; it can hold a call until released."""

    def __init__(self, hold: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, items: list[str]) -> list[str]:
        self.calls.append(list(items))
        self.started.set()
        self.release.wait()
        return [s.upper() for s in items]


async def _scheduled_tasks_have_run() -> None:
    """Returns after the tasks already scheduled took their first step (FIFO ready queue)."""
    ready = asyncio.Event()
    asyncio.get_running_loop().call_soon(ready.set)
    await ready.wait()


async def test_callers_of_one_tick_share_one_call() -> None:
    run = Recorder()
    batcher = MicroBatcher(run)
    results = await asyncio.gather(*(batcher([f"t{i}"]) for i in range(20)))
    assert results == [[f"T{i}"] for i in range(20)]
    assert batcher.batches == 1 and len(run.calls[0]) == 20


async def test_what_arrives_during_a_call_goes_in_the_next_one_together() -> None:
    run = Recorder(hold=True)
    batcher = MicroBatcher(run)
    first = asyncio.create_task(batcher(["a"]))
    await asyncio.to_thread(run.started.wait)  # the first call is running in its thread
    later = [asyncio.create_task(batcher([f"b{i}", f"c{i}"])) for i in range(5)]
    await _scheduled_tasks_have_run()
    run.release.set()
    assert await first == ["A"]
    assert [await t for t in later] == [[f"B{i}", f"C{i}"] for i in range(5)]
    assert [len(c) for c in run.calls] == [1, 10]


async def test_max_batch_splits_but_never_splits_a_caller() -> None:
    run = Recorder()
    batcher = MicroBatcher(run, max_batch=4)
    results = await asyncio.gather(*(batcher([f"x{i}", f"y{i}", f"z{i}"]) for i in range(3)))
    assert results == [[f"X{i}", f"Y{i}", f"Z{i}"] for i in range(3)]
    assert [len(c) for c in run.calls] == [3, 3, 3]


async def test_an_error_reaches_every_caller_of_the_batch() -> None:
    def broken(items: list[str]) -> list[str]:
        raise RuntimeError("encoder exploded")

    batcher = MicroBatcher(broken)
    results = await asyncio.gather(*(batcher([str(i)]) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    # ... and the batcher still works afterwards.
    batcher.run = Recorder()
    assert await batcher(["ok"]) == ["OK"]


async def test_a_short_answer_is_an_error_not_a_silent_mismatch() -> None:
    batcher = MicroBatcher(lambda items: items[:-1])
    with pytest.raises(RuntimeError, match="results for 2 items"):
        await batcher(["a", "b"])


async def test_a_cancelled_caller_leaves_the_others_alone() -> None:
    run = Recorder(hold=True)
    batcher = MicroBatcher(run)
    first = asyncio.create_task(batcher(["a"]))
    await asyncio.to_thread(run.started.wait)
    gone = asyncio.create_task(batcher(["gone"]))
    kept = asyncio.create_task(batcher(["kept"]))
    await _scheduled_tasks_have_run()
    gone.cancel()
    run.release.set()
    assert await first == ["A"] and await kept == ["KEPT"]
    assert run.calls[1] == ["kept"]  # the cancelled caller's text was never scored
