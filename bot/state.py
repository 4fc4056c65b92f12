"""Conversation state: per-conversation settings and the recent image history.

Kept behind a small async interface so the storage can move to Redis (botbuilder
`Storage` with e-tags) without touching the assistant. Group chats and channels keep one
record per user, so one person's "make it darker" never edits another person's image.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from bot.llm.base import HistoryItem
from bot.turn import Turn

HISTORY_LIMIT = 20


@dataclass(slots=True)
class Generation:
    """One image turn: what was asked, what was sent to the engine, what came out."""

    user_text: str
    prompt: str
    seed: int
    image_ids: list[str]
    size: str
    n: int
    raw: bool = False
    created: float = field(default_factory=time.time)

    def as_history(self) -> HistoryItem:
        return HistoryItem(user_text=self.user_text, prompt=self.prompt, seed=self.seed)


@dataclass(slots=True)
class ConversationSettings:
    raw: bool = False
    n: int | None = None
    size: str | None = None
    steps: int | None = None


@dataclass(slots=True)
class ConversationRecord:
    settings: ConversationSettings = field(default_factory=ConversationSettings)
    generations: list[Generation] = field(default_factory=list)

    def history(self, limit: int = 6) -> list[HistoryItem]:
        return [g.as_history() for g in self.generations[-limit:]]

    def add(self, gen: Generation) -> None:
        self.generations.append(gen)
        del self.generations[:-HISTORY_LIMIT]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_key(turn: Turn) -> str:
    """One record per conversation; per user inside group chats and channels."""
    base = f"{turn.channel}:{turn.conversation_id}"
    return f"{base}:{turn.user_id}" if turn.is_group else base


Mutation = Callable[[ConversationRecord], None]


class ConversationStore(Protocol):
    async def load(self, key: str) -> ConversationRecord: ...

    async def update(self, key: str, mutate: Mutation) -> ConversationRecord:
        """Apply `mutate` atomically (read-modify-write); concurrent turns lose nothing."""
        ...


class MemoryConversationStore:
    """In-process store (the default without Redis); lost on restart."""

    def __init__(self) -> None:
        self._records: dict[str, ConversationRecord] = {}
        self._lock = asyncio.Lock()

    async def load(self, key: str) -> ConversationRecord:
        async with self._lock:
            rec = self._records.get(key)
            if rec is None:
                return ConversationRecord()
            # A copy, so a turn that fails half-way changes nothing.
            return ConversationRecord(
                settings=ConversationSettings(**asdict(rec.settings)),
                generations=list(rec.generations),
            )

    async def update(self, key: str, mutate: Mutation) -> ConversationRecord:
        async with self._lock:
            rec = self._records.setdefault(key, ConversationRecord())
            mutate(rec)
            return rec
