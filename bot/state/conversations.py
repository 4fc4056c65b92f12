"""Conversation state: per-conversation settings and the image generation history.

Stored through botbuilder's `Storage` interface (bot/state/storage.py: memory or Redis) with
e-tag optimistic concurrency: `update` reads, applies a change and writes back with the
e-tag it read; when another turn wrote in between, it re-reads and applies the change
again, so two concurrent turns in one conversation lose no update.

Group chats and channels keep one record per user, so one person's "make it darker"
never edits another person's picture.

Every stored object of a user is findable from the user: records through the user's
record index, pictures and job records through bot/state/owned.py. History keeps the
last HISTORY_LIMIT generations, and the pictures it trims are deleted as it trims them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from botbuilder.core import Storage

from bot.llm.base import HistoryItem
from bot.state.owned import OwnedIndex
from bot.state.storage import CREATE_ONLY, EtagConflict, StorageError
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

    def shown_ids(self) -> set[str]:
        """Every picture the record still shows: its generations' and its notices'."""
        return {*self.image_ids(), *(str(i["image_id"]) for n in self.notices for i in n.images)}

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
# Deletes the objects a user has stored (kind -> ids: "image", "job"); returns how many
# pictures went. Called by `forget_user` before the records and the index go.
Erase = Callable[[dict[str, list[str]]], Awaitable[int]]


class ImageDeleter(Protocol):
    """The image store, as trimming needs it (imaging/store.py)."""

    async def delete(self, image_ids: list[str]) -> int: ...


class ConversationStore(Protocol):
    async def load(self, key: str) -> ConversationRecord: ...

    async def update(self, key: str, mutate: Mutation, *, user: str | None = None
                     ) -> ConversationRecord: ...

    async def own(self, user: str, kind: str, ids: list[str]) -> None:
        """Note objects of `user` about to be stored ("image" or "job"), for /forget."""
        ...

    async def forget_user(self, user: str, erase: Erase) -> int: ...


class StorageConversationStore:
    """Conversation records on any botbuilder `Storage` with e-tags (bot/state/storage.py)."""

    def __init__(self, storage: Storage, images: ImageDeleter | None = None) -> None:
        """`images`: where trimmed pictures are deleted (None: they expire by TTL)."""
        self.storage = storage
        self.images = images
        self.owned = OwnedIndex(storage)
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
            shown = rec.shown_ids()
            mutate(rec)
            new_user = user if user is not None and user not in rec.user_ids else None
            if new_user is not None:
                rec.user_ids.append(new_user)
            item = rec.to_dict()
            item["e_tag"] = data["e_tag"] if data else CREATE_ONLY
            try:
                await self.storage.write({key: item})
            except EtagConflict:
                self.conflicts += 1
                # Jittered backoff: colliding writers spread out instead of colliding again.
                await asyncio.sleep(random.uniform(0, 0.002 * (_attempt + 1)))
                continue
            if new_user is not None:
                await self._index(new_user, key)
            trimmed = sorted(shown - rec.shown_ids())
            if trimmed:
                await self._delete_trimmed(rec, trimmed)
            return rec
        raise StorageError(f"too many concurrent updates of {key}")

    async def _delete_trimmed(self, rec: ConversationRecord, image_ids: list[str]) -> None:
        """Pictures that left the record (trimmed history, old notices) are deleted now.
        A failure only logs: the user's index still names them, so /forget finds them,
        and they expire with the TTL anyway."""
        if self.images is None:
            return
        try:
            await self.images.delete(image_ids)
            for user in rec.user_ids:
                await self.owned.remove(user, "image", image_ids)
        except Exception as exc:  # noqa: BLE001 - the turn that trimmed must not fail
            log.warning("could not delete %d trimmed pictures yet: %s", len(image_ids), exc)

    async def own(self, user: str, kind: str, ids: list[str]) -> None:
        await self.owned.add(user, kind, ids)

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

    async def forget_user(self, user: str, erase: Erase) -> int:
        """Everything `user` has stored: `erase` deletes the objects (the index's, and
        the pictures the records show), then the records and the indexes go. Returns
        what `erase` returned. If erasing fails nothing is dropped, so /forget again
        finds it all."""
        data = (await self.storage.read([user])).get(user)
        keys = list(data["records"]) if data else []
        records = await self.storage.read(keys) if keys else {}
        found = await self.owned.read(user)
        shown = [i for item in records.values()
                 for i in sorted(ConversationRecord.from_dict(item).shown_ids())]
        found["image"] = list(dict.fromkeys([*found["image"], *shown]))
        erased = await erase(found)
        await self.storage.delete([*keys, user, self.owned.key(user)])
        return erased
