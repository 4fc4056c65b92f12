"""botbuilder `Storage` implementations with real e-tag optimistic concurrency.

Conventions (shared by both stores, relied on by `bot/state/conversations.py`):
- every write assigns a new e-tag, returned in `read` as the item's `"e_tag"`;
- a write whose item carries an e-tag must match the stored one, else it fails with
  `EtagConflict` (the caller re-reads and retries);
- `e_tag` absent or `"*"` writes unconditionally; `e_tag == CREATE_ONLY` succeeds only
  if the key does not exist yet (so two turns creating one record cannot both win).

botbuilder's own MemoryStorage never assigns an e-tag to a record written without one,
so two concurrent first writes silently overwrite each other: not good enough for
conversation history, hence `EtagMemoryStorage`.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import redis.exceptions as rx
from botbuilder.core import Storage, StoreItem

from bot.errors import EaselError
from imaging.store import StoreUnavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

CREATE_ONLY = "0"


class StorageError(EaselError):
    """Root of the storage errors."""


class EtagConflict(StorageError):
    """Somebody else wrote the item since it was read."""


class StorageUnavailable(StorageError, StoreUnavailable):
    """The backing service (Redis) cannot be reached right now. It is an image store's
    `StoreUnavailable` too, so one clause catches an outage of either."""


# What an outage of Redis raises anywhere in bot/: our stores' own errors, and redis-py's
# from the stores that talk to Redis directly (arena, job records). Caught where a turn or
# a request ends, and said as "unavailable" (a clear message, or a 503).
OUTAGES: tuple[type[Exception], ...] = (StoreUnavailable, rx.ConnectionError, rx.TimeoutError)


def _as_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, dict):
        return dict(item)
    if isinstance(item, StoreItem):
        return {k: v for k, v in vars(item).items() if not k.startswith("_")}
    raise TypeError(f"cannot store a {type(item).__name__}; use a dict or StoreItem")


class EtagMemoryStorage(Storage):
    """In-process storage with the e-tag conventions above and an optional TTL."""

    def __init__(self, ttl_s: int | None = None) -> None:
        self._items: dict[str, tuple[dict[str, Any], float | None]] = {}
        self._etag = 0
        self._lock = asyncio.Lock()
        self.ttl_s = ttl_s

    def _live(self, key: str) -> dict[str, Any] | None:
        entry = self._items.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and expires < time.monotonic():
            del self._items[key]
            return None
        return value

    async def read(self, keys: list[str]) -> dict[str, Any]:
        async with self._lock:
            out = {}
            for key in keys:
                value = self._live(key)
                if value is not None:
                    out[key] = copy.deepcopy(value)
            return out

    async def write(self, changes: dict[str, Any]) -> None:
        async with self._lock:
            # Check every e-tag first: a batch is applied entirely or not at all.
            for key, item in changes.items():
                _check_etag(key, _as_dict(item).get("e_tag"), self._live(key))
            expires = time.monotonic() + self.ttl_s if self.ttl_s else None
            for key, item in changes.items():
                value = copy.deepcopy(_as_dict(item))
                self._etag += 1
                value["e_tag"] = str(self._etag)
                self._items[key] = (value, expires)

    async def delete(self, keys: list[str]) -> None:
        async with self._lock:
            for key in keys:
                self._items.pop(key, None)

    async def keys(self, prefix: str) -> list[str]:
        async with self._lock:
            return [k for k in list(self._items) if k.startswith(prefix) and self._live(k)]


def _check_etag(key: str, wanted: Any, current: dict[str, Any] | None) -> None:
    if wanted in (None, "*"):
        return
    if wanted == CREATE_ONLY:
        if current is not None:
            raise EtagConflict(f"{key} already exists")
        return
    if current is None or current.get("e_tag") != wanted:
        raise EtagConflict(f"{key} changed since it was read")


# Atomic compare-and-set: KEYS[1] item hash, KEYS[2] e-tag counter;
# ARGV[1] wanted e-tag, ARGV[2] JSON value, ARGV[3] TTL seconds (0 = none).
_CAS = """
local cur = redis.call('HGET', KEYS[1], 'e')
local want = ARGV[1]
if want ~= '*' and want ~= '' then
  if want == '0' then
    if cur then return -1 end
  elseif cur ~= want then
    return -1
  end
end
local etag = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'e', etag, 'v', ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return etag
"""


class RedisStorage(Storage):
    """Items as Redis hashes {e: e-tag, v: JSON}, written by one Lua compare-and-set."""

    def __init__(self, client: Redis, *, prefix: str = "easel:", ttl_s: int | None = 30 * 86400
                 ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self._cas = client.register_script(_CAS)

    def _k(self, key: str) -> str:
        return f"{self.prefix}item:{key}"

    async def read(self, keys: list[str]) -> dict[str, Any]:
        if not keys:
            return {}
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.hmget(self._k(key), "e", "v")
                rows = await pipe.execute()
        except (rx.ConnectionError, rx.TimeoutError, OSError) as exc:
            raise StorageUnavailable(str(exc)) from exc
        out: dict[str, Any] = {}
        for key, (etag, raw) in zip(keys, rows, strict=True):
            if raw is None:
                continue
            value = json.loads(raw)
            value["e_tag"] = etag.decode() if isinstance(etag, bytes) else str(etag)
            out[key] = value
        return out

    async def write(self, changes: dict[str, Any]) -> None:
        for key, item in changes.items():
            value = _as_dict(item)
            wanted = value.pop("e_tag", None)
            wanted = "*" if wanted is None else str(wanted)
            try:
                result = await self._cas(
                    keys=[self._k(key), f"{self.prefix}etag"],
                    args=[wanted, json.dumps(value, separators=(",", ":")), self.ttl_s or 0],
                )
            except (rx.ConnectionError, rx.TimeoutError, OSError) as exc:
                raise StorageUnavailable(str(exc)) from exc
            if int(result) < 0:
                raise EtagConflict(f"{key} changed since it was read")

    async def delete(self, keys: list[str]) -> None:
        if not keys:
            return
        try:
            await self.client.delete(*[self._k(k) for k in keys])
        except (rx.ConnectionError, rx.TimeoutError, OSError) as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def keys(self, prefix: str) -> list[str]:
        head = self._k("")
        try:
            found = [k async for k in self.client.scan_iter(match=self._k(prefix) + "*",
                                                            count=500)]
        except (rx.ConnectionError, rx.TimeoutError, OSError) as exc:
            raise StorageUnavailable(str(exc)) from exc
        return [(k.decode() if isinstance(k, bytes) else k)[len(head):] for k in found]
