"""Arena battles and votes: the same contract on the memory + JSONL store and on Redis."""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.arena.model import MAX_ID_LEN, Battle, BattleState, Choice
from bot.arena.redis_store import RedisArenaStore
from bot.arena.store import ArenaStore, MemoryArenaStore, VoteOutcome, journal_path

PREFIX = "easel:test:"


REDIS_URL = os.environ.get("EASEL_TEST_ARENA_REDIS_URL", "redis://127.0.0.1:6379/14")


async def _flushed_redis():
    """A real Redis on its own db (EASEL_TEST_ARENA_REDIS_URL, default db 14), flushed, as
    conftest's `redis_client` does for db 15; skips the test when there is none."""
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL, socket_timeout=3, socket_connect_timeout=1)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        await client.aclose()
        pytest.skip(f"no Redis at {REDIS_URL} ({exc}); `make test` starts one")
    await client.flushdb()
    return client


@pytest.fixture
async def arena_redis():
    client = await _flushed_redis()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def store(request, tmp_path: Path) -> AsyncIterator[ArenaStore]:
    if request.param == "memory":
        yield await MemoryArenaStore.open(tmp_path / "arena.jsonl")
        return
    client = await _flushed_redis()
    yield RedisArenaStore(client, prefix=PREFIX)
    await client.flushdb()
    await client.aclose()


def _battle(category: str = "animal", now: float = 100.0, **kw) -> Battle:
    fields = dict(conversation_id="conv-1", prompt="a red fox in snow", category=category,
                  entry_a="demo-8", entry_b="demo", images_a=["img-a1"], images_b=["img-b1"],
                  now=now)
    fields.update(kw)
    return Battle.new(**fields)


def test_battle_ids_fit_a_discord_custom_id():
    ids = {_battle().id for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(rf"[A-Za-z0-9_-]{{1,{MAX_ID_LEN}}}", i) for i in ids)
    with pytest.raises(ValueError):
        _battle(entry_b="demo-8")  # two different entries


def test_typed_votes_parse():
    assert [Choice.parse(t) for t in ("A", " b ", "Tie", "both bad", "both-bad", "x")] == \
        [Choice.A, Choice.B, Choice.TIE, Choice.BAD, Choice.BAD, None]


async def test_a_battle_round_trips(store: ArenaStore):
    b = _battle(prompt_a="fox, watercolour", prompt_b="fox, photo")
    await store.save_battle(b)
    assert await store.get_battle(b.id) == b
    assert await store.get_battle("nope") is None


async def test_each_user_votes_once_per_battle(store: ArenaStore):
    b = _battle()
    await store.save_battle(b)
    first = await store.record_vote(b.id, "ada", Choice.A, now=101.0)
    assert first.accepted and first.battle is not None
    assert first.battle.state is BattleState.DECIDED
    assert first.battle.entry(Choice.A) == "demo-8"  # what the reveal shows
    again = await store.record_vote(b.id, "ada", Choice.B, now=102.0)
    assert again.outcome is VoteOutcome.ALREADY_VOTED
    assert again.vote is not None and again.vote.choice is Choice.A  # the first vote stands
    other = await store.record_vote(b.id, "bob", Choice.TIE, now=103.0)
    assert other.accepted
    votes = await store.votes(b.id)
    assert sorted((v.user_id, v.choice) for v in votes) == [("ada", Choice.A), ("bob", Choice.TIE)]


async def test_concurrent_votes_of_one_user_count_once(store: ArenaStore):
    b = _battle()
    await store.save_battle(b)
    choices = [Choice.A, Choice.B, Choice.TIE, Choice.BAD] * 5
    results = await asyncio.gather(*(store.record_vote(b.id, "ada", c) for c in choices))
    accepted = [r for r in results if r.accepted]
    assert len(accepted) == 1
    assert all(r.outcome is VoteOutcome.ALREADY_VOTED for r in results if not r.accepted)
    votes = await store.votes(b.id)
    assert len(votes) == 1 and votes[0].choice is accepted[0].vote.choice


async def test_a_void_battle_refuses_votes_and_unknown_ones_are_unknown(store: ArenaStore):
    b = _battle()
    await store.save_battle(b)
    voided = await store.void_battle(b.id, "the safety gate withheld image B")
    assert voided is not None and voided.state is BattleState.VOID
    assert voided.void_reason == "the safety gate withheld image B"
    res = await store.record_vote(b.id, "ada", Choice.A)
    assert res.outcome is VoteOutcome.VOID and not res.accepted
    assert await store.votes(b.id) == ()
    assert (await store.record_vote("missing", "ada", Choice.A)).outcome is VoteOutcome.UNKNOWN
    assert await store.void_battle("missing", "x") is None
    # A battle saved void from the start (the gate withheld before anything was shown).
    pre = _battle().voided("withheld")
    await store.save_battle(pre)
    assert (await store.record_vote(pre.id, "ada", Choice.B)).outcome is VoteOutcome.VOID


async def test_listing_returns_battles_with_votes_oldest_first_and_by_category(store):
    old, new, other = _battle(now=1.0), _battle(now=2.0), _battle("landscape", now=3.0)
    for b in (new, other, old):
        await store.save_battle(b)
    await store.record_vote(new.id, "ada", Choice.B)
    everything = await store.list_battles()
    assert [bv.battle.id for bv in everything] == [old.id, new.id, other.id]
    assert [len(bv.votes) for bv in everything] == [0, 1, 0]
    animals = await store.list_battles("animal")
    assert [bv.battle.id for bv in animals] == [old.id, new.id]


async def test_the_jsonl_store_survives_a_restart(tmp_path: Path):
    path = journal_path(tmp_path / "data")
    store = await MemoryArenaStore.open(path)
    kept, voided = _battle(now=1.0), _battle(now=2.0)
    await store.save_battle(kept)
    await store.save_battle(voided)
    await store.record_vote(kept.id, "ada", Choice.A, now=5.0)
    await store.record_vote(kept.id, "bob", Choice.TIE, now=6.0)
    await store.void_battle(voided.id, "withheld")
    before = await store.list_battles()
    with path.open("a", encoding="utf-8") as f:
        f.write('{"type": "vote", "vote": {"battle_')  # a torn line from a crash

    again = await MemoryArenaStore.open(path)
    assert await again.list_battles() == before
    assert (await again.get_battle(kept.id)).state is BattleState.DECIDED
    assert (await again.record_vote(kept.id, "ada", Choice.B)).outcome is VoteOutcome.ALREADY_VOTED
    assert (await again.record_vote(voided.id, "cy", Choice.B)).outcome is VoteOutcome.VOID
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()[:5]]
    assert [e["type"] for e in lines] == ["battle", "battle", "vote", "vote", "void"]


async def test_redis_keys_stay_under_the_prefix_and_share_a_slot(arena_redis):
    store = RedisArenaStore(arena_redis, prefix=PREFIX)
    b = _battle()
    await store.save_battle(b)
    await store.record_vote(b.id, "ada", Choice.A)
    keys = sorted(k.decode() for k in await arena_redis.keys("*"))
    assert keys == [f"{PREFIX}arena:battle:{{{b.id}}}", f"{PREFIX}arena:battles",
                    f"{PREFIX}arena:votes:{{{b.id}}}"]
    assert await arena_redis.ttl(keys[0]) == -1  # the board is the long-term record


def test_the_cli_reads_the_redis_store(monkeypatch, tmp_path: Path, capsys):
    from bot.app.cli import build_parser
    from bot.app.services import storage_prefix
    from bot.app.settings import load_settings

    monkeypatch.setenv("EASEL_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("EASEL_DATA_DIR", str(tmp_path / "data"))
    prefix = storage_prefix(load_settings())  # the server's prefix: the CLI must find its keys

    async def redis_do(fill: bool) -> None:
        client = await _flushed_redis()
        if fill:
            store = RedisArenaStore(client, prefix=prefix)
            for n in range(6):
                b = _battle(now=float(n))
                await store.save_battle(b)
                await store.record_vote(b.id, "ada", Choice.A if n < 4 else Choice.B)
        await client.aclose()

    asyncio.run(redis_do(fill=True))
    try:
        args = build_parser().parse_args(["arena", "board", "--json", "--rounds", "50"])
        assert args.func(args) == 0
    finally:
        asyncio.run(redis_do(fill=False))
    data = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in data["entries"]] == ["demo-8", "demo"]
    assert data["battles"] == 6
