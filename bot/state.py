"""Conversation state: per-conversation settings and the image generation history.

Stored through botbuilder's `Storage` interface (bot/storage.py: memory or Redis) with
e-tag optimistic concurrency: `update` reads, applies a change and writes back with the
e-tag it read; when another turn wrote in between, it re-reads and applies the change
again, so two concurrent turns in one conversation lose no update.

Group chats and channels keep one record per user, so one person's "make it darker"
never edits another person's picture.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from botbuilder.core import Storage

from bot.llm.base import HistoryItem
from bot.storage import CREATE_ONLY, EtagConflict, StorageError
from bot.turn import Turn

log = logging.getLogger(__name__)

HISTORY_LIMIT = 30
_UPDATE_ATTEMPTS = 25


@dataclass(slots=True)
class Generation:
    """One image turn: what was asked, what was sent to the engine, what came out."""

    id: str
    parent_id: str | None
    user_text: str
    prompt: str
    seeds: list[int]
    image_ids: list[str]
    width: int
    height: int
    steps: int | None = None
    kind: str = "generate"  # generate | edit | vary | upload
    strength: float | None = None
    negative_prompt: str | None = None
    raw: bool = False
    created: float = field(default_factory=time.time)
    engine: str | None = None  # the named engine that drew it (None: the only one)
    reproducible: bool = True  # False: that engine has no seed control

    @staticmethod
    def new_id() -> str:
        return secrets.token_urlsafe(9)  # 12 chars: fits in Discord's 100-char custom_id

    def as_history(self) -> HistoryItem:
        return HistoryItem(user_text=self.user_text, prompt=self.prompt,
                           seed=self.seeds[0] if self.seeds else None)


@dataclass(slots=True)
class Notice:
    """A reply that is no generation and could not be shown when it was made: a job
    finished by another bot process after this one stopped, which failed or was
    cancelled, or a recovered arena battle (battles are not generations). The web chat
    shows it in its history; the other channels post it."""

    user_text: str
    kind: str  # a ReplyKind value
    text: str
    images: list[dict[str, Any]] = field(default_factory=list)  # DeliveredImage fields
    battle_id: str | None = None  # a recovered arena battle (its pictures are above)
    created: float = field(default_factory=time.time)


NOTICE_LIMIT = 10


@dataclass(slots=True)
class ConversationSettings:
    raw: bool = False
    n: int | None = None
    size: str | None = None
    steps: int | None = None
    model: str | None = None  # a named engine (/settings model=NAME); None = the default
    arena: bool = False  # every 5th image request is a battle (/settings arena=on)


@dataclass(slots=True)
class ConversationRecord:
    settings: ConversationSettings = field(default_factory=ConversationSettings)
    generations: list[Generation] = field(default_factory=list)
    current_id: str | None = None  # the picture follow-ups apply to (moves back on /undo)
    current_index: int = 0  # which image of the current generation ("Use this one")
    user_ids: list[str] = field(default_factory=list)
    battle_id: str | None = None  # the latest arena battle here (what a typed /vote means)
    image_requests: int = 0  # counted while arena=on, for "every 5th"
    notices: list[Notice] = field(default_factory=list)  # newest last, a few kept

    def history(self, limit: int = 6) -> list[HistoryItem]:
        """Recent generations ending at the current one (what the brain should build on)."""
        chain: list[Generation] = []
        gen = self.current
        while gen is not None and len(chain) < limit:
            chain.append(gen)
            gen = self.find(gen.parent_id) if gen.parent_id else None
        items = [g.as_history() for g in reversed(chain)]
        cur = self.current
        if items and cur is not None and 0 < self.current_index < len(cur.seeds):
            # Follow-ups build on the picked image, so the brain should reuse its seed.
            last = items[-1]
            items[-1] = HistoryItem(last.user_text, last.prompt, cur.seeds[self.current_index])
        return items

    @property
    def current(self) -> Generation | None:
        return self.find(self.current_id) if self.current_id else None

    def find(self, gen_id: str | None) -> Generation | None:
        for g in reversed(self.generations):
            if g.id == gen_id:
                return g
        return None

    def add(self, gen: Generation) -> None:
        self.generations.append(gen)
        self.current_id = gen.id
        self.current_index = 0
        del self.generations[:-HISTORY_LIMIT]

    def note(self, notice: Notice) -> None:
        self.notices.append(notice)
        del self.notices[:-NOTICE_LIMIT]

    def image_ids(self) -> list[str]:
        return [i for g in self.generations for i in g.image_ids]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversationRecord:
        return cls(
            settings=ConversationSettings(**data.get("settings", {})),
            generations=[Generation(**g) for g in data.get("generations", [])],
            current_id=data.get("current_id"),
            current_index=int(data.get("current_index", 0)),
            user_ids=list(data.get("user_ids", [])),
            battle_id=data.get("battle_id"),
            image_requests=int(data.get("image_requests", 0)),
            notices=[Notice(**n) for n in data.get("notices", [])],
        )


def record_key(turn: Turn) -> str:
    """One record per conversation; per user inside group chats and channels. The
    tenant is part of the key, so tenants never share a namespace."""
    base = f"conv/{turn.channel}/{turn.tenant_id or '-'}/{turn.conversation_id}"
    return f"{base}/user/{turn.user_id}" if turn.is_group else base


def user_key(turn: Turn) -> str:
    return f"user/{turn.channel}/{turn.tenant_id or '-'}/{turn.user_id}"


Mutation = Callable[[ConversationRecord], None]


class ConversationStore(Protocol):
    async def load(self, key: str) -> ConversationRecord: ...

    async def update(self, key: str, mutate: Mutation, *, user: str | None = None
                     ) -> ConversationRecord: ...

    async def forget_user(self, user: str) -> list[str]: ...


class StorageConversationStore:
    """Conversation records on any botbuilder `Storage` with e-tags (bot/storage.py)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.conflicts = 0  # e-tag conflicts resolved by retrying (observability, tests)

    async def load(self, key: str) -> ConversationRecord:
        data = (await self.storage.read([key])).get(key)
        return ConversationRecord.from_dict(data) if data else ConversationRecord()

    async def update(self, key: str, mutate: Mutation, *, user: str | None = None
                     ) -> ConversationRecord:
        """Read-modify-write with the read e-tag; on a conflict, read again and retry.
        `user` (a user_key) is indexed so /forget can find every record of that user."""
        for _attempt in range(_UPDATE_ATTEMPTS):
            data = (await self.storage.read([key])).get(key)
            rec = ConversationRecord.from_dict(data) if data else ConversationRecord()
            mutate(rec)
            is_new_user = user is not None and user not in rec.user_ids
            if is_new_user:
                rec.user_ids.append(user)
            item = rec.to_dict()
            item["e_tag"] = data["e_tag"] if data else CREATE_ONLY
            try:
                await self.storage.write({key: item})
            except EtagConflict:
                self.conflicts += 1
                # Jittered backoff: colliding writers spread out instead of colliding again.
                await asyncio.sleep(random.uniform(0, 0.002 * (_attempt + 1)))
                continue
            if is_new_user:
                await self._index(user, key)
            return rec
        raise StorageError(f"too many concurrent updates of {key}")

    async def _index(self, user: str, key: str) -> None:
        for _attempt in range(_UPDATE_ATTEMPTS):
            data = (await self.storage.read([user])).get(user)
            keys = list(data["records"]) if data else []
            if key in keys:
                return
            keys.append(key)
            try:
                await self.storage.write({user: {"records": keys,
                                                 "e_tag": data["e_tag"] if data else CREATE_ONLY}})
                return
            except EtagConflict:
                await asyncio.sleep(random.uniform(0, 0.002 * (_attempt + 1)))
                continue
        raise StorageError(f"too many concurrent updates of {user}")

    async def forget_user(self, user: str) -> list[str]:
        """Delete every record indexed for `user`; returns the image ids they held."""
        data = (await self.storage.read([user])).get(user)
        keys = list(data["records"]) if data else []
        records = await self.storage.read(keys) if keys else {}
        image_ids = [i for item in records.values()
                     for i in ConversationRecord.from_dict(item).image_ids()]
        await self.storage.delete([*keys, user])
        return image_ids
