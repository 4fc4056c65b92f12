"""The replica's door (imaging/jobs/gate.py): while the engine runs, jobs wait and then
enter together, one batch's images at a time, in arrival order; cancelled waiters free
their place."""

from __future__ import annotations

import asyncio

from imaging.jobs.gate import BatchGate


async def _enter_all(gate: BatchGate, jobs: list[tuple[str, int]]) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(gate.enter(j, n), name=j) for j, n in jobs]
    await asyncio.sleep(0)  # each reaches the door
    return tasks


def _entered(tasks: list[asyncio.Task[None]]) -> list[str]:
    return [t.get_name() for t in tasks if t.done() and not t.cancelled()]


async def test_an_idle_replica_admits_up_to_one_batch_and_holds_the_rest() -> None:
    gate = BatchGate(4)
    tasks = await _enter_all(gate, [("a", 1), ("b", 2), ("c", 1), ("d", 1)])
    assert _entered(tasks) == ["a", "b", "c"]  # 4 images: d waits for the next batch
    gate.started(["a", "b", "c"])
    more = await _enter_all(gate, [("e", 1)])
    assert _entered(tasks + more) == ["a", "b", "c"]  # the engine runs: e waits behind d
    gate.finished()
    await asyncio.sleep(0)
    assert _entered(tasks + more) == ["a", "b", "c", "d", "e"]  # together, in order


async def test_waiters_enter_one_batch_at_a_time_in_arrival_order() -> None:
    gate = BatchGate(2)
    first = await _enter_all(gate, [("a", 2)])
    gate.started(["a"])
    waiting = await _enter_all(gate, [("b", 1), ("c", 2), ("d", 1)])
    gate.finished()
    await asyncio.sleep(0)
    assert _entered(waiting) == ["b"]  # c (2 images) does not fit beside b; d does not jump it
    gate.started(["b"])
    gate.finished()
    await asyncio.sleep(0)
    assert _entered(waiting) == ["b", "c"]
    assert first[0].done()


async def test_a_job_larger_than_a_batch_still_enters_alone() -> None:
    gate = BatchGate(2)
    (big,) = await _enter_all(gate, [("big", 3)])
    assert big.done()  # Serve itself answers that it is too large


async def test_a_cancelled_waiter_gives_up_its_place() -> None:
    gate = BatchGate(1)
    await _enter_all(gate, [("a", 1)])
    gate.started(["a"])
    b, c = await _enter_all(gate, [("b", 1), ("c", 1)])
    b.cancel()
    await asyncio.sleep(0)
    assert gate.waiting == 1
    gate.finished()
    await asyncio.sleep(0)
    assert c.done() and not c.cancelled()


async def test_an_admitted_job_cancelled_before_its_batch_frees_the_room() -> None:
    gate = BatchGate(1)
    (a,) = await _enter_all(gate, [("a", 1)])
    (b,) = await _enter_all(gate, [("b", 1)])
    assert not b.done()  # a holds the only place in the forming batch
    gate.left("a")  # a's caller cancelled; Serve drops it from the batch
    await asyncio.sleep(0)
    assert b.done() and a.done()
