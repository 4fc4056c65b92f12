"""The wiring's choice of store where a command outside the server must read what the
server keeps (`easel arena board`, `easel keys`): Redis when configured, else files under
the data directory (or memory plus the arena's JSONL journal)."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio import Redis

from bot.app.settings import Settings
from bot.arena.redis_store import RedisArenaStore
from bot.arena.store import ArenaStore, MemoryArenaStore, journal_path
from bot.state.conversations import StorageConversationStore
from bot.state.file_storage import FileStorage
from bot.state.keys import FileKeyStore, KeyStore, RedisKeyStore
from bot.state.storage import RedisStorage
from imaging.store import FileImageStore, ImageStore, RedisImageStore


def storage_prefix(settings: Settings) -> str:
    """Keys are namespaced per bot, so several bots can share one Redis."""
    return f"easel:{settings.microsoft_app_id or 'local'}:"


def _client(settings: Settings) -> Redis:
    assert settings.redis_url
    return aioredis.from_url(settings.redis_url, socket_timeout=3, socket_connect_timeout=3)


async def open_arena_store(settings: Settings, prefix: str, redis_client: Redis | None = None
                           ) -> ArenaStore:
    """Redis when a client is given or `settings.redis_url` is set (keys under
    `prefix + "arena:"`; pass `storage_prefix(settings)`), else memory plus the
    journal at `<data dir>/arena/arena.jsonl`. A client created here is closed by the
    store's `aclose`; a client passed in stays the caller's."""
    if redis_client is not None:
        return RedisArenaStore(redis_client, prefix=prefix)
    if settings.redis_url:
        return RedisArenaStore(_client(settings), prefix=prefix, owns_client=True)
    return await MemoryArenaStore.open(journal_path(settings.data_dir))


def open_key_store(settings: Settings, redis_client: Redis | None = None) -> KeyStore:
    """The API keys: in Redis when a client is given or EASEL_REDIS_URL is set (a client
    made here is closed by `bot.state.keys.close_key_store`), else in
    `<data dir>/api-keys.json`."""
    if redis_client is not None:
        return RedisKeyStore(redis_client, storage_prefix(settings))
    if settings.redis_url:
        return RedisKeyStore(_client(settings), storage_prefix(settings), owns_client=True)
    return FileKeyStore(settings.data_dir / "api-keys.json")


def open_api_conversations(settings: Settings, images: ImageStore,
                           redis_client: Redis | None = None) -> StorageConversationStore:
    """Where what an API key stores is noted, so `easel keys revoke --forget` (another
    process) finds it: the server's own Redis storage when there is one (pass its
    client), else files under `<data dir>/api-state` (the chat's memory storage is the
    server's alone)."""
    ttl_s = int(settings.state_ttl_days * 86400)
    if redis_client is not None:
        return StorageConversationStore(RedisStorage(redis_client, prefix=storage_prefix(settings),
                                                     ttl_s=ttl_s), images=images)
    return StorageConversationStore(FileStorage(settings.data_dir / "api-state", ttl_s=ttl_s),
                                    images=images)


def open_image_store(settings: Settings, redis_client: Redis | None = None) -> ImageStore:
    """The image store as the server opens it (bot/app/services.py), for a command."""
    ttl_s = int(settings.state_ttl_days * 86400)
    if settings.image_store == "redis" and redis_client is not None:
        return RedisImageStore(redis_client, prefix=storage_prefix(settings), ttl_s=ttl_s)
    return FileImageStore(settings.data_dir / "images", ttl_s=ttl_s)
