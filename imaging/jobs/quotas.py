"""Per-user and per-tenant quotas, checked before a job is queued.

Images per minute and per day are moving windows counted by the `limits` library, on
Redis when one is configured (every bot process then shares the counts) and in memory
otherwise. Concurrent jobs are not a rate, and `limits` has no semaphore, so they are a
small lease set: in memory, or one Redis sorted set per user whose members expire, so a
process that died holding a slot gives it back after `LEASE_S`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError

from imaging.engine import GenerationError
from imaging.jobs.model import ImageJob, QuotaExceeded

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from redis.asyncio import Redis

LEASE_S = 3600  # longer than any job; a crashed process's slots come back after this

# Atomically: drop expired leases, refuse when full, else take a slot.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


@dataclass(frozen=True, slots=True)
class QuotaConfig:
    concurrent_jobs: int | None = 2  # per user
    images_per_minute: int | None = None  # per user
    images_per_day: int | None = None  # per user
    tenant_images_per_minute: int | None = None
    tenant_images_per_day: int | None = None
    exempt: frozenset[str] = field(default_factory=frozenset)  # user ids


class Quotas:
    def __init__(self, config: QuotaConfig, *, redis: Redis | None = None,
                 redis_url: str | None = None, prefix: str = "easel:") -> None:
        """With `redis` (for the job slots) and `redis_url` (for `limits`, which opens
        its own connection pool), counts are shared by every process on that Redis."""
        self.config = config
        self.prefix = prefix
        self._redis = redis
        storage: Storage
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            storage = RedisStorage(uri, implementation="redispy", key_prefix=f"{prefix}quota",
                                   wrap_exceptions=True)
        else:
            storage = MemoryStorage()
        self._limiter = MovingWindowRateLimiter(storage)
        self._acquire = redis.register_script(_ACQUIRE) if redis is not None else None
        self._slots: dict[str, set[str]] = {}
        # Slots whose release failed (Redis was down): given back before the user's next
        # take, so a short outage does not hold their slots until the lease expires.
        self._unreleased: dict[str, set[str]] = {}
        self._windows: list[tuple[str, str, RateLimitItem, str]] = []
        # A user's own windows (an API key's limits), in place of the configured per-user ones.
        self._own: dict[str, list[tuple[str, str, RateLimitItem, str]]] = {}
        for scope, amount, item, what in (
            ("user", config.images_per_minute, RateLimitItemPerMinute, "images per minute"),
            ("user", config.images_per_day, RateLimitItemPerDay, "images per day"),
            ("tenant", config.tenant_images_per_minute, RateLimitItemPerMinute,
             "images per minute for your organisation"),
            ("tenant", config.tenant_images_per_day, RateLimitItemPerDay,
             "images per day for your organisation"),
        ):
            if amount:
                self._windows.append((scope, f"{amount} {what}", item(amount), what))

    def exempt(self, user: str) -> bool:
        return user in self.config.exempt

    def limit_user(self, user: str, images_per_minute: int | None,
                   images_per_day: int | None) -> None:
        """`user`'s own images per minute and per day (an API key's), each in place of
        the configured per-user limit; None keeps the configured one for that window."""
        asked: list[tuple[int | None, type[RateLimitItem], str]] = [
            (images_per_minute, RateLimitItemPerMinute, "images per minute"),
            (images_per_day, RateLimitItemPerDay, "images per day")]
        own = [("user", f"{amount} {what}", item(amount), what)
               for amount, item, what in asked if amount]
        if own:
            self._own[user] = own
        else:
            self._own.pop(user, None)

    def _windows_for(self, user: str) -> list[tuple[str, str, RateLimitItem, str]]:
        own = self._own.get(user)
        if own is None:
            return self._windows
        replaced = {w[3] for w in own}
        return [w for w in self._windows if w[0] != "user" or w[3] not in replaced] + own

    async def admit(self, job: ImageJob) -> None:
        """Take a job slot and count the images, or raise `QuotaExceeded` (and count
        nothing). Call `release` when the job ends. When the counts cannot be reached
        (Redis is down), nothing is queued either and the user hears so: `GenerationError`."""
        if self.exempt(job.user):
            return
        try:
            await self._admit(job)
        except (RedisError, StorageError, OSError) as exc:
            log.error("quota counts unavailable: %s", exc)
            raise GenerationError("the usage counter is unavailable right now") from exc

    async def _admit(self, job: ImageJob) -> None:
        images = job.counted_images
        windows = self._windows_for(job.user)
        for scope, label, item, _ in windows:
            ident = self._ident(scope, job)
            if ident is None or images <= 0:
                continue
            if images > item.amount or not await self._limiter.test(item, ident, cost=images):
                stats = await self._limiter.get_window_stats(item, ident)
                retry = max(1.0, math.ceil(stats.reset_time - time.time()))
                raise QuotaExceeded(f"You've reached the limit of {label}. Try again in "
                                    f"{_human(retry)}.", label, retry)
        await self._take_slot(job)
        for scope, _, item, _ in windows:
            ident = self._ident(scope, job)
            if ident is not None and images > 0:
                await self._limiter.hit(item, ident, cost=images)

    async def release(self, job: ImageJob) -> None:
        if self.exempt(job.user) or not self.config.concurrent_jobs:
            return
        if self._redis is not None:
            try:
                await self._redis.zrem(self._slot_key(job.user), job.id)
            except (RedisError, OSError) as exc:
                log.warning("could not give back a job slot (kept to retry): %s", exc)
                self._unreleased.setdefault(job.user, set()).add(job.id)
        else:
            self._slots.get(job.user, set()).discard(job.id)

    async def _take_slot(self, job: ImageJob) -> None:
        limit = self.config.concurrent_jobs
        if not limit:
            return
        if self._acquire is not None:
            if self._redis is not None and (stale := self._unreleased.get(job.user)):
                await self._redis.zrem(self._slot_key(job.user), *stale)
                self._unreleased.pop(job.user, None)
            now = time.time()
            ok = await self._acquire(keys=[self._slot_key(job.user)],
                                     args=[now, now + LEASE_S, limit, job.id, LEASE_S])
        else:
            slots = self._slots.setdefault(job.user, set())
            ok = len(slots) < limit
            if ok:
                slots.add(job.id)
        if not ok:
            raise QuotaExceeded(
                f"You already have {limit} image job{'s' if limit != 1 else ''} running or "
                "waiting. Try again when one finishes, or `/cancel` one.",
                f"{limit} concurrent jobs", 5.0)

    def _ident(self, scope: str, job: ImageJob) -> str | None:
        if scope == "user":
            return f"user:{job.user}"
        return f"tenant:{job.tenant}" if job.tenant else None

    def _slot_key(self, user: str) -> str:
        return f"{self.prefix}quota:slots:{user}"


def _human(seconds: float) -> str:
    if seconds < 90:
        return f"{int(seconds)} s"
    if seconds < 5400:
        return f"{math.ceil(seconds / 60)} min"
    return f"{math.ceil(seconds / 3600)} h"
