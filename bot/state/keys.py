"""API keys: who may call easel's APIs (the OpenAI Images API, A1111, MCP), as a user.

A key is shown once, when it is made (`easel keys create NAME`); only its SHA-256 is kept
(a key carries 256 random bits, so a plain hash is as good as a slow one and costs
nothing per request). `verify` finds the record by that hash and compares it in constant
time. Each key is a user, `key:NAME`, for quotas (its own per-minute and per-day limits
when it has them, the deployment's per-user ones otherwise), the safety audit and
/metrics; its pictures are noted under `api_user_key(NAME)` so `easel keys revoke NAME
--forget` finds them (bot/pipeline/forget.py).

Two stores: `FileKeyStore` (one JSON file under the data directory, written atomically
under a file lock, so the CLI and the server can share it) and `RedisKeyStore` (when
EASEL_REDIS_URL is set: every bot process sees a revocation at once). All file work runs
in threads, never on the event loop. `last_used` is written at most every
`TOUCH_EVERY_S` per key: a busy key does not rewrite the store on every request.
"""

from __future__ import annotations

import asyncio
import fcntl
import hmac
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from bot.state.key_records import (
    KEY_PREFIX,
    TOUCH_EVERY_S,
    ApiKey,
    BadKeyName,
    KeyNameTaken,
    KeyStoreError,
    check_key_args,
    hash_key,
    looks_like_key,
    new_key,
    record,
)
from bot.state.redis_keys import RedisKeyStore

__all__ = ["KEY_PREFIX", "ApiKey", "BadKeyName", "FileKeyStore", "KeyNameTaken", "KeyStore",
           "KeyStoreError", "RedisKeyStore", "api_user_key", "as_json", "close_key_store",
           "hash_key", "new_key"]


def api_user_key(name: str) -> str:
    """Where a key's stored objects are indexed (the conversation store's user key)."""
    return f"user/api/-/key:{name}"


class KeyStore(Protocol):
    async def create(self, name: str, *, images_per_minute: int | None = None,
                     images_per_day: int | None = None) -> tuple[str, ApiKey]:
        """A new key (returned once, never stored) and its record. `KeyNameTaken` when
        the name is in use, `BadKeyName` when it is not a plain name."""
        ...

    async def verify(self, key: str) -> ApiKey | None:
        """The key's record (its use noted), or None for a key that is not (or no
        longer) valid."""
        ...

    async def list(self) -> list[ApiKey]: ...

    async def revoke(self, name: str) -> bool:
        """False when there was no such key."""
        ...


# ---- a JSON file ---------------------------------------------------------------------
class FileKeyStore:
    """`{"keys": {name: {hash, created, last_used, images_per_minute, images_per_day}}}`
    in one file (mode 0600), replaced atomically under an exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._seen: tuple[int, int, int] | None = None  # (inode, mtime, size) read last
        self._keys: dict[str, dict[str, Any]] = {}
        self._by_hash: dict[str, str] = {}
        self._touched: dict[str, float] = {}

    async def create(self, name: str, *, images_per_minute: int | None = None,
                     images_per_day: int | None = None) -> tuple[str, ApiKey]:
        check_key_args(name, images_per_minute, images_per_day)
        key = new_key()
        entry = {"hash": hash_key(key), "created": time.time(), "last_used": None,
                 "images_per_minute": images_per_minute, "images_per_day": images_per_day}

        def add(keys: dict[str, dict[str, Any]]) -> bool:
            if name in keys:
                raise KeyNameTaken(f"there is already a key called {name!r}")
            keys[name] = entry
            return True

        await asyncio.to_thread(self._change, add)
        return key, record(name, entry, None)

    async def verify(self, key: str) -> ApiKey | None:
        if not looks_like_key(key):
            return None
        digest = hash_key(key)
        await asyncio.to_thread(self._refresh)
        name = self._by_hash.get(digest)
        entry = self._keys.get(name) if name is not None else None
        if name is None or entry is None or not hmac.compare_digest(entry["hash"], digest):
            return None
        now = time.time()
        if now - self._touched.get(name, 0.0) >= TOUCH_EVERY_S:
            self._touched[name] = now

            def touch(keys: dict[str, dict[str, Any]]) -> bool:
                found = keys.get(name)
                if found is None or found["hash"] != digest:
                    return False  # revoked (or made anew) meanwhile: nothing to note
                found["last_used"] = now
                return True

            await asyncio.to_thread(self._change, touch)
        return record(name, entry, now)

    async def list(self) -> list[ApiKey]:
        await asyncio.to_thread(self._refresh)
        return [record(n, e, e.get("last_used")) for n, e in sorted(self._keys.items())]

    async def revoke(self, name: str) -> bool:
        def drop(keys: dict[str, dict[str, Any]]) -> bool:
            return keys.pop(name, None) is not None

        return await asyncio.to_thread(self._change, drop)

    # ---- in a thread ---------------------------------------------------------------
    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._seen, self._keys, self._by_hash = None, {}, {}
            return
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        if seen != self._seen:
            self._load(self._read(), seen)

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise KeyStoreError(f"cannot read the key store {self.path}: {exc}") from exc
        return dict(data.get("keys", {}))

    def _load(self, keys: dict[str, dict[str, Any]], seen: tuple[int, int, int] | None
              ) -> None:
        self._keys = keys
        self._by_hash = {e["hash"]: n for n, e in keys.items()}
        self._seen = seen

    def _change(self, change: Callable[[dict[str, dict[str, Any]]], bool]) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        with open(lock, "a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            try:
                keys = self._read()
                changed = change(keys)
                if changed:
                    tmp = self.path.with_name(self.path.name + ".tmp")
                    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "w", encoding="utf-8") as f:
                        json.dump({"keys": keys}, f, indent=1, sort_keys=True)
                    os.replace(tmp, self.path)
                st = os.stat(self.path) if self.path.exists() else None
                self._load(keys, (st.st_ino, st.st_mtime_ns, st.st_size) if st else None)
                return changed
            finally:
                fcntl.flock(held, fcntl.LOCK_UN)


async def close_key_store(store: KeyStore) -> None:
    """Closes what the store opened itself (a Redis client made by `open_key_store`)."""
    if isinstance(store, RedisKeyStore):
        await store.aclose()


def as_json(key: ApiKey) -> dict[str, Any]:
    return {**asdict(key), "user_id": key.user_id}
