"""Conversation-state benchmark: storage work of one turn, Redis vs memory, same run.

One "turn" does what an image turn does to state: load the conversation record, then
update it with a new generation (read + e-tag compare-and-set write, retried on
conflicts). 50 conversations run concurrently, each taking T turns; half of the turns
also touch a shared "hot" conversation so e-tag conflicts actually happen.

Usage: python -m bench.state [--conversations 50] [--turns 40] [--redis redis://127.0.0.1:6379/15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from bot.state.conversations import ConversationRecord, Generation, StorageConversationStore
from bot.state.storage import EtagMemoryStorage, RedisStorage


def _gen(i: int) -> Generation:
    return Generation(id=Generation.new_id(), parent_id=None, user_text=f"draw thing {i}",
                      prompt=f"thing {i}, detailed, soft light, watercolour", seeds=[i, i + 1],
                      image_ids=["x" * 32, "y" * 32], width=512, height=512, steps=4)


async def _run(store: StorageConversationStore, conversations: int, turns: int
               ) -> tuple[float, list[float]]:
    latencies: list[float] = []

    async def conversation(c: int) -> None:
        for t in range(turns):
            key = "conv/hot" if (c + t) % 2 == 0 and c < 5 else f"conv/{c}"
            t0 = time.perf_counter()
            await store.load(key)

            def add(rec: ConversationRecord, t: int = t) -> None:
                rec.add(_gen(t))

            await store.update(key, add, user=f"user/{c}")
            latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(conversation(c) for c in range(conversations)))
    return time.perf_counter() - t0, latencies


def _ms(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=50)
    ap.add_argument("--turns", type=int, default=40)
    ap.add_argument("--redis", default=os.environ.get("EASEL_TEST_REDIS_URL",
                                                      "redis://127.0.0.1:6379/15"))
    args = ap.parse_args()

    import redis.asyncio as aioredis

    client = aioredis.from_url(args.redis)
    await client.ping()
    prefix = "easel:bench:"
    async for k in client.scan_iter(match=prefix + "*"):
        await client.delete(k)
    backends = {
        "memory": StorageConversationStore(EtagMemoryStorage(ttl_s=86400)),
        "redis": StorageConversationStore(RedisStorage(client, prefix=prefix, ttl_s=86400)),
    }
    results = {}
    for name, store in backends.items():
        await _run(store, 5, 3)  # warm-up (connections, script load)
        store.conflicts = 0
        elapsed, lat = await _run(store, args.conversations, args.turns)
        results[name] = (elapsed, lat, store.conflicts)
    async for k in client.scan_iter(match=prefix + "*"):
        await client.delete(k)
    await client.aclose()

    total = args.conversations * args.turns
    print(f"# bench/state.py — {args.conversations} concurrent conversations × {args.turns} "
          f"turns ({total} turns per backend), load + e-tag update per turn, {os.cpu_count()} CPUs")
    print()
    print("| storage | turns/s | p50 ms | p99 ms | mean ms | e-tag conflicts retried |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (elapsed, lat, conflicts) in results.items():
        print(f"| {name} | {total / elapsed:.0f} | {_ms(lat, 0.5):.2f} | {_ms(lat, 0.99):.2f} | "
              f"{statistics.mean(lat) * 1000:.2f} | {conflicts} |")
    mem, red = results["memory"], results["redis"]
    print(f"\nredis / memory: throughput {(total / red[0]) / (total / mem[0]):.2f}×, "
          f"p50 latency {_ms(red[1], 0.5) / max(_ms(mem[1], 0.5), 1e-6):.1f}×")


if __name__ == "__main__":
    asyncio.run(main())
