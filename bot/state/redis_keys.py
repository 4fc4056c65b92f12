"""API keys in Redis (EASEL_REDIS_URL): every bot process sees a revocation at once."""

from __future__ import annotations

import hmac
import json
import time
from typing import TYPE_CHECKING, Any

import redis.exceptions as rx

from bot.state.key_records import (
    TOUCH_EVERY_S,
    ApiKey,
    KeyNameTaken,
    check_key_args,
    hash_key,
    looks_like_key,
    new_key,
    record,
)
from bot.state.storage import StorageUnavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis

_CREATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"""
_REVOKE = """
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 0 end
redis.call('HDEL', KEYS[2], cjson.decode(rec)['hash'])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"""
_TOUCH = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""
_DOWN = (rx.ConnectionError, rx.TimeoutError, OSError)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisKeyStore:
    """Three hashes under `prefix`: `apikeys` (name -> record), `apikeys:hash` (hash ->
    name) and `apikeys:used` (name -> last use), changed together by Lua scripts."""

    def __init__(self, redis: Redis, prefix: str = "easel:", *, owns_client: bool = False
                 ) -> None:
        self.redis = redis
        self.owns_client = owns_client
        self._names = f"{prefix}apikeys"
        self._hashes = f"{prefix}apikeys:hash"
        self._used = f"{prefix}apikeys:used"
        self._create = redis.register_script(_CREATE)
        self._revoke = redis.register_script(_REVOKE)
        self._touch = redis.register_script(_TOUCH)
        self._touched: dict[str, float] = {}

    async def create(self, name: str, *, images_per_minute: int | None = None,
                     images_per_day: int | None = None) -> tuple[str, ApiKey]:
        check_key_args(name, images_per_minute, images_per_day)
        key = new_key()
        digest = hash_key(key)
        entry: dict[str, Any] = {"hash": digest, "created": time.time(),
                 "images_per_minute": images_per_minute, "images_per_day": images_per_day}
        try:
            made = await self._create(keys=[self._names, self._hashes, self._used],
                                      args=[name, json.dumps(entry), digest])
        except _DOWN as exc:
            raise StorageUnavailable(f"key store: {exc}") from exc
        if not int(made):
            raise KeyNameTaken(f"there is already a key called {name!r}")
        return key, record(name, entry, None)

    async def verify(self, key: str) -> ApiKey | None:
        if not looks_like_key(key):
            return None
        digest = hash_key(key)
        try:
            name = await self.redis.hget(self._hashes, digest)
            raw = await self.redis.hget(self._names, name) if name is not None else None
            if name is None or raw is None:
                return None
            name = _text(name)
            entry = json.loads(raw)
            if not hmac.compare_digest(str(entry.get("hash", "")), digest):
                return None
            now = time.time()
            if now - self._touched.get(name, 0.0) >= TOUCH_EVERY_S:
                self._touched[name] = now
                await self._touch(keys=[self._names, self._used], args=[name, repr(now)])
        except _DOWN as exc:
            raise StorageUnavailable(f"key store: {exc}") from exc
        return record(name, entry, now)

    async def list(self) -> list[ApiKey]:
        try:
            names = await self.redis.hgetall(self._names)
            used = await self.redis.hgetall(self._used)
        except _DOWN as exc:
            raise StorageUnavailable(f"key store: {exc}") from exc
        last = {_text(k): float(v) for k, v in used.items()}
        return sorted((record(_text(n), json.loads(raw), last.get(_text(n)))
                       for n, raw in names.items()), key=lambda k: k.name)

    async def revoke(self, name: str) -> bool:
        try:
            gone = await self._revoke(keys=[self._names, self._hashes, self._used], args=[name])
        except _DOWN as exc:
            raise StorageUnavailable(f"key store: {exc}") from exc
        self._touched.pop(name, None)
        return bool(int(gone))

    async def aclose(self) -> None:
        if self.owns_client:
            await self.redis.aclose()
