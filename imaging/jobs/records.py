"""Job records, owners' leases, delivery claims and cluster room, in Redis.

A job that must survive its bot process (the Ray runner) is written here before it is
queued: the request, who asked, and the caller's opaque `context` (how to finish and
where to deliver). The bot process that submitted it owns it while its lease key lives
(renewed every few seconds); when a process dies its lease expires, and another process
(or the same one, restarted) adopts the job with an atomic compare-and-set, runs it
again and delivers it.

Exactly once is enforced at delivery: `claim(job_id)` is a `SET NX` per job, so of every
process that finishes the same job (a slow owner and its adopter, a retry) only one
posts. A claimed job leaves the open set in the same script.

`RedisClusterSlots` shares the cluster's room (replicas x max batch images) between bot
processes: a sorted set of held slots whose members expire, like the quotas' leases.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from imaging.jobs.model import ImageJob
from imaging.jobs.wire import (
    WireRequest,
    from_json_safe,
    request_from_dict,
    request_to_dict,
    to_json_safe,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

LEASE_S = 10.0  # an owner silent this long is presumed dead
CLAIM_TTL_S = 7 * 86400  # longer than any retry or restart
RECORD_TTL_S = 2 * 86400  # an open job older than this is abandoned

# KEYS: record, lease of its recorded owner. ARGV: expected owner, new owner.
_ADOPT = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
if rec['owner'] ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 and ARGV[1] ~= ARGV[2] then return 0 end
rec['owner'] = ARGV[2]
rec['attempts'] = (rec['attempts'] or 0) + 1
redis.call('SET', KEYS[1], cjson.encode(rec), 'KEEPTTL')
return 1
"""

# KEYS: claim, open set. ARGV: job id, claimer, ttl.
_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[3]) then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
return 0
"""

# KEYS: slots. ARGV: now, expiry, capacity, member, images, ttl.
_SLOT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local held = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  held = held + tonumber(string.match(m, '^(%d+):'))
end
if held + tonumber(ARGV[5]) > tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[6])
return 1
"""


def new_owner() -> str:
    """This bot process's identity for its leases (new at every start)."""
    return secrets.token_hex(6)


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    job: ImageJob | None  # None: a turn of several jobs (an arena battle), in `context`
    context: dict[str, Any]
    owner: str
    attempts: int
    created: float


class JobRecords:
    def __init__(self, redis: Redis, *, owner: str, prefix: str = "easel:",
                 lease_s: float = LEASE_S) -> None:
        self.redis = redis
        self.owner = owner
        self.prefix = prefix
        self.lease_s = lease_s
        self._adopt = redis.register_script(_ADOPT)
        self._claim = redis.register_script(_CLAIM)

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}job:{job_id}"

    def _lease(self, owner: str) -> str:
        return f"{self.prefix}owner:{owner}"

    @property
    def _open(self) -> str:
        return f"{self.prefix}jobs:open"

    async def heartbeat(self) -> None:
        await self.redis.set(self._lease(self.owner), str(time.time()),
                             px=int(self.lease_s * 1000))

    async def resign(self) -> None:
        """A clean stop: the jobs this process holds become adoptable at once."""
        await self.redis.delete(self._lease(self.owner))

    async def create(self, job: ImageJob, context: dict[str, Any]) -> None:
        await self._open_record(job.id, job.user, context, tenant=job.tenant,
                                engine=job.engine,
                                request=to_json_safe(dict(request_to_dict(job.request))))

    async def create_turn(self, turn_id: str, user: str, context: dict[str, Any]) -> None:
        """A turn whose one reply needs several jobs (an arena battle): recorded as a
        whole, finished as a whole (its context says how), claimed once by `turn_id`."""
        await self._open_record(turn_id, user, context)

    async def _open_record(self, record_id: str, user: str, context: dict[str, Any],
                           **job: Any) -> None:
        data = {"id": record_id, "user": user, **job, "context": context,
                "owner": self.owner, "attempts": 1, "created": time.time()}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key(record_id), json.dumps(data), ex=RECORD_TTL_S)
            pipe.zadd(self._open, {record_id: data["created"]})
            await pipe.execute()

    async def get(self, job_id: str) -> JobRecord | None:
        raw = await self.redis.get(self._key(job_id))
        return _record(raw) if raw else None

    async def open_jobs(self) -> list[JobRecord]:
        cutoff = time.time() - RECORD_TTL_S
        await self.redis.zremrangebyscore(self._open, "-inf", cutoff)
        ids = [i for i in await self.redis.zrange(self._open, 0, -1)
               if isinstance(i, (bytes, str))]  # members only (no scores were asked for)
        if not ids:
            return []
        raws = await self.redis.mget([self._key(_text(i)) for i in ids])
        gone = [i for i, raw in zip(ids, raws, strict=True) if raw is None]
        if gone:
            await self.redis.zrem(self._open, *gone)
        return [_record(raw) for raw in raws if raw is not None]

    async def orphans(self) -> list[JobRecord]:
        """Open jobs whose owner has stopped renewing its lease."""
        out = []
        for rec in await self.open_jobs():
            if rec.owner != self.owner and not await self.redis.exists(self._lease(rec.owner)):
                out.append(rec)
        return out

    async def adopt(self, rec: JobRecord) -> bool:
        """Become the job's owner, if its owner is still the one seen and still dead."""
        return bool(await self._adopt(keys=[self._key(rec.id), self._lease(rec.owner)],
                                      args=[rec.owner, self.owner]))

    async def claim(self, job_id: str) -> bool:
        """The right to post this job's one reply; False: someone already has it."""
        return bool(await self._claim(keys=[f"{self.prefix}delivered:{job_id}", self._open],
                                      args=[job_id, self.owner, CLAIM_TTL_S]))

    async def delivered(self, job_id: str) -> bool:
        return bool(await self.redis.exists(f"{self.prefix}delivered:{job_id}"))

    async def delete(self, record_ids: list[str]) -> int:
        """A user's /forget: the records (they keep the prompt and who asked), their
        claims and cancel marks. Returns how many records there were."""
        if not record_ids:
            return 0
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*[self._key(i) for i in record_ids])
            pipe.delete(*[f"{self.prefix}delivered:{i}" for i in record_ids],
                        *[self._cancel_key(i) for i in record_ids])
            pipe.zrem(self._open, *record_ids)
            gone, _, _ = await pipe.execute()
        return int(gone)

    async def mark_cancelled(self, job_id: str) -> None:
        """The user cancelled it from another process: whoever holds or adopts it stops."""
        await self.redis.set(self._cancel_key(job_id), self.owner, ex=RECORD_TTL_S)

    async def cancelled(self, job_id: str) -> bool:
        return (await self.cancelled_any([job_id]))[0]

    async def cancelled_any(self, job_ids: list[str]) -> list[bool]:
        raws = await self.redis.mget([self._cancel_key(j) for j in job_ids])
        return [raw is not None for raw in raws]

    def _cancel_key(self, job_id: str) -> str:
        return f"{self.prefix}cancelled:{job_id}"


class RedisClusterSlots:
    """The cluster's room, shared by every bot process on this Redis."""

    def __init__(self, redis: Redis, *, prefix: str = "easel:", lease_s: float = 600.0) -> None:
        self.redis = redis
        self.key = f"{prefix}ray:slots"
        self.lease_s = lease_s  # a process that died holding room gives it back after this
        self._acquire = redis.register_script(_SLOT)
        self._members: dict[str, str] = {}

    async def acquire(self, job_id: str, images: int, capacity: int) -> bool:
        member = f"{images}:{job_id}"
        now = time.time()
        ok = await self._acquire(keys=[self.key], args=[now, now + self.lease_s, capacity,
                                                        member, images, int(self.lease_s)])
        if ok:
            self._members[job_id] = member
        return bool(ok)

    async def release(self, job_id: str) -> None:
        member = self._members.pop(job_id, None)
        if member is not None:
            try:
                await self.redis.zrem(self.key, member)
            except Exception as exc:  # the lease runs out by itself
                log.warning("could not give back cluster room: %s", exc)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _record(raw: bytes | str) -> JobRecord:
    data = json.loads(raw)
    job = None
    if "request" in data:  # a turn of several jobs (an arena battle) has none
        wire = cast(WireRequest, from_json_safe(data["request"]))
        job = ImageJob(request_from_dict(wire), data["user"], data.get("tenant"),
                       engine=data.get("engine"), id=data["id"])
    return JobRecord(data["id"], job, data.get("context") or {}, data["owner"],
                     int(data.get("attempts", 1)), float(data.get("created", 0.0)))
