"""The wiring's choice of arena store for a command that runs outside the server
(`easel arena board`): Redis when configured, else memory plus the JSONL journal."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio import Redis

from bot.app.settings import Settings
from bot.arena.redis_store import RedisArenaStore
from bot.arena.store import ArenaStore, MemoryArenaStore, journal_path


async def open_arena_store(settings: Settings, prefix: str, redis_client: Redis | None = None
                           ) -> ArenaStore:
    """Redis when a client is given or `settings.redis_url` is set (keys under
    `prefix + "arena:"`; pass `bot.app.services.storage_prefix(settings)`), else memory plus the
    journal at `<data dir>/arena/arena.jsonl`. A client created here is closed by the
    store's `aclose`; a client passed in stays the caller's."""
    if redis_client is not None:
        return RedisArenaStore(redis_client, prefix=prefix)
    if settings.redis_url:
        client = aioredis.from_url(settings.redis_url, socket_timeout=3,
                                   socket_connect_timeout=3)
        return RedisArenaStore(client, prefix=prefix, owns_client=True)
    return await MemoryArenaStore.open(journal_path(settings.data_dir))
