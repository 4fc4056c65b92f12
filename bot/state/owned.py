"""Everything a user has stored, findable from the user: the index /forget deletes from.

Each stored object of a user (a picture, an upload, an arena picture, a job record) is
noted here under the user's key *before* the object is written, so a /forget at any
moment finds it; an id noted for an object that never got written costs nothing to
delete. A channel's fitted copy is found through its original (imaging/store.py deletes
copies with their picture). Conversation records are indexed by bot/state/conversations.py.

Entries are kept with the time they were noted, and those older than the storage's TTL
are dropped whenever the index is written: what they name has expired by then, and the
index stays as small as what the user still has.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

from botbuilder.core import Storage

from bot.state.storage import CREATE_ONLY, EtagConflict, StorageError

KINDS = ("image", "job")  # images incl. uploads and arena pictures; job records
_ATTEMPTS = 25

Entries = dict[str, list[list[str | float]]]  # kind -> [[id, noted at], ...]


class OwnedIndex:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        # The storage's own expiry (both of ours have one): older entries name nothing.
        self.ttl_s: float | None = getattr(storage, "ttl_s", None)

    @staticmethod
    def key(user: str) -> str:
        return f"owned/{user}"

    async def add(self, user: str, kind: str, ids: list[str]) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind of stored object: {kind}")
        if not ids:
            return
        now = time.time()

        def note(entries: Entries) -> None:
            entries.setdefault(kind, []).extend([i, now] for i in ids)

        await self._change(user, note)

    async def remove(self, user: str, kind: str, ids: list[str]) -> None:
        """What was deleted already (trimmed pictures) leaves the index."""
        gone = set(ids)

        def drop(entries: Entries) -> None:
            entries[kind] = [e for e in entries.get(kind, []) if e[0] not in gone]

        await self._change(user, drop)

    async def read(self, user: str) -> dict[str, list[str]]:
        data = (await self.storage.read([self.key(user)])).get(self.key(user))
        entries: Entries = data["objects"] if data else {}
        return {kind: list(dict.fromkeys(str(e[0]) for e in entries.get(kind, [])))
                for kind in KINDS}

    async def drop(self, user: str) -> None:
        await self.storage.delete([self.key(user)])

    async def _change(self, user: str, change: Callable[[Entries], None]) -> None:
        key = self.key(user)
        for attempt in range(_ATTEMPTS):
            data = (await self.storage.read([key])).get(key)
            entries: Entries = dict(data["objects"]) if data else {}
            change(entries)
            if self.ttl_s:
                cutoff = time.time() - self.ttl_s
                entries = {k: [e for e in v if float(e[1]) >= cutoff] for k, v in entries.items()}
            try:
                await self.storage.write({key: {
                    "objects": entries, "e_tag": data["e_tag"] if data else CREATE_ONLY}})
                return
            except EtagConflict:
                # Jittered: concurrent pictures of one user spread out instead of colliding.
                await asyncio.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise StorageError(f"too many concurrent updates of {key}")
