"""Where battles and votes live: the `ArenaStore` protocol and the memory + JSONL store.

Two implementations share one contract (tests run the same checks on both):
- `RedisArenaStore` (bot/arena/redis_store.py) when Redis is configured: one vote per user
  per battle is enforced atomically inside Redis, so several server processes can share it;
- `MemoryArenaStore` otherwise: everything in memory, every change appended to a JSONL
  journal under the data dir and replayed on start, so the board survives restarts.

The wiring picks one (bot/app/stores.py `open_arena_store`): Redis when `EASEL_REDIS_URL`
is set.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.arena.model import Battle, BattleState, BattleVotes, Choice, Vote

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

__all__ = ["ArenaStore", "MemoryArenaStore", "VoteOutcome", "VoteResult", "journal_path"]


class VoteOutcome(StrEnum):
    ACCEPTED = "accepted"
    ALREADY_VOTED = "already_voted"  # this user has voted on this battle before
    VOID = "void"  # the battle was voided: votes are refused
    UNKNOWN = "unknown"  # no such battle (expired button, typo in /vote)


@dataclass(frozen=True)
class VoteResult:
    outcome: VoteOutcome
    # The battle as stored after the attempt (None when unknown): the caller reveals its
    # entry names after an accepted vote.
    battle: Battle | None = None
    # The vote that counts for this user: the new one, or their earlier one when refused.
    vote: Vote | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome is VoteOutcome.ACCEPTED


class ArenaStore(Protocol):
    async def save_battle(self, battle: Battle) -> None:
        """Store a new battle (an open one, or one already void)."""

    async def get_battle(self, battle_id: str) -> Battle | None: ...

    async def void_battle(self, battle_id: str, reason: str) -> Battle | None:
        """Mark a battle void (it then refuses votes and leaves the board); None if unknown."""

    async def record_vote(self, battle_id: str, user_id: str, choice: Choice, *,
                          now: float | None = None) -> VoteResult:
        """Each user votes once per battle: a second attempt, even a concurrent one, is
        refused with ALREADY_VOTED and the first vote stands."""

    async def votes(self, battle_id: str) -> tuple[Vote, ...]: ...

    async def list_battles(self, category: str | None = None) -> list[BattleVotes]:
        """Every battle (void ones included; the board leaves them out) with its votes,
        oldest first; only one category's when `category` is given."""

    async def aclose(self) -> None: ...


def journal_path(data_dir: Path) -> Path:
    return data_dir / "arena" / "arena.jsonl"


class MemoryArenaStore:
    """In memory, optionally journalled to an append-only JSONL file.

    Each line is one event: {"type": "battle", "battle": {...}}, {"type": "vote",
    "vote": {...}} or {"type": "void", "id": ..., "reason": ...}. Appending events (rather
    than rewriting a snapshot) means a crash loses at most the line being written, and
    replay skips a torn last line. One asyncio lock serialises check-then-append, so two
    concurrent votes of one user cannot both pass the check; the journal is written in a
    worker thread while the lock is held, so file order is decision order.
    """

    def __init__(self, journal: Path | None = None) -> None:
        """Made without I/O (the server wires it synchronously); the journal is
        replayed on first use, or by `open`."""
        self._journal = journal
        self._battles: dict[str, Battle] = {}
        self._votes: dict[str, dict[str, Vote]] = {}
        self._lock = asyncio.Lock()
        self._loaded = journal is None

    @classmethod
    async def open(cls, journal: Path | None) -> MemoryArenaStore:
        """The store with the journal's events replayed (file reads in a thread)."""
        store = cls(journal)
        await store._load()
        return store

    async def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        assert self._journal is not None
        events = await asyncio.to_thread(_read_journal, self._journal)
        for event in events:
            self._apply(event)
        if events:
            log.info("arena: %d battles, %d votes from %s", len(self._battles),
                     sum(len(v) for v in self._votes.values()), self._journal)

    def _apply(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        try:
            if kind == "battle":
                battle = Battle.from_dict(event["battle"])
                self._battles[battle.id] = battle
                self._votes.setdefault(battle.id, {})
            elif kind == "vote":
                vote = Vote.from_dict(event["vote"])
                voted = self._battles.get(vote.battle_id)
                if voted is None or vote.user_id in self._votes[vote.battle_id]:
                    return
                self._votes[vote.battle_id][vote.user_id] = vote
                if voted.state is BattleState.OPEN:
                    self._battles[voted.id] = replace(voted, state=BattleState.DECIDED)
            elif kind == "void":
                voided = self._battles.get(str(event["id"]))
                if voided is not None:
                    self._battles[voided.id] = voided.voided(str(event.get("reason") or ""))
            else:
                log.warning("arena journal: unknown event type %r skipped", kind)
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("arena journal: malformed %s event skipped (%s)", kind, exc)

    async def _append(self, event: dict[str, Any]) -> None:
        if self._journal is not None:
            line = json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"
            await asyncio.to_thread(_append_line, self._journal, line)

    async def save_battle(self, battle: Battle) -> None:
        async with self._lock:
            await self._load()
            # Journal first: a battle that could not be written is not shown as stored.
            await self._append({"type": "battle", "battle": battle.to_dict()})
            self._battles[battle.id] = battle
            self._votes.setdefault(battle.id, {})

    async def get_battle(self, battle_id: str) -> Battle | None:
        async with self._lock:
            await self._load()
        return self._battles.get(battle_id)

    async def void_battle(self, battle_id: str, reason: str) -> Battle | None:
        async with self._lock:
            await self._load()
            battle = self._battles.get(battle_id)
            if battle is None:
                return None
            await self._append({"type": "void", "id": battle_id, "reason": reason})
            self._battles[battle_id] = battle = battle.voided(reason)
            return battle

    async def record_vote(self, battle_id: str, user_id: str, choice: Choice, *,
                          now: float | None = None) -> VoteResult:
        async with self._lock:
            await self._load()
            battle = self._battles.get(battle_id)
            if battle is None:
                return VoteResult(VoteOutcome.UNKNOWN)
            if battle.state is BattleState.VOID:
                return VoteResult(VoteOutcome.VOID, battle)
            earlier = self._votes[battle_id].get(user_id)
            if earlier is not None:
                return VoteResult(VoteOutcome.ALREADY_VOTED, battle, earlier)
            vote = Vote(battle_id, user_id, Choice(choice), time.time() if now is None else now)
            await self._append({"type": "vote", "vote": vote.to_dict()})
            self._votes[battle_id][user_id] = vote
            if battle.state is BattleState.OPEN:
                self._battles[battle_id] = battle = replace(battle, state=BattleState.DECIDED)
            return VoteResult(VoteOutcome.ACCEPTED, battle, vote)

    async def votes(self, battle_id: str) -> tuple[Vote, ...]:
        async with self._lock:
            await self._load()
        return tuple(self._votes.get(battle_id, {}).values())

    async def list_battles(self, category: str | None = None) -> list[BattleVotes]:
        async with self._lock:
            await self._load()
        battles = sorted(self._battles.values(), key=lambda b: (b.created, b.id))
        return [BattleVotes(b, tuple(self._votes.get(b.id, {}).values())) for b in battles
                if category is None or b.category == category]

    async def aclose(self) -> None:
        return None


def _read_journal(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    events: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                # A torn line from a crash mid-write; the ones after it are still good.
                log.warning("arena journal %s: line %d is not JSON, skipped", path, n)
                continue
            if isinstance(event, dict):
                events.append(event)
    return events


def _append_line(path: Path, line: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
