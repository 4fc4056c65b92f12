"""`/queue` and `/cancel` across every bot process on one Redis (EASEL_RUNNER=ray).

Each bot process keeps its own fair queue, and a user's next turn may reach another
process than the one drawing their picture (Teams and Discord spread turns over the
processes behind a load balancer). So every process publishes its open jobs, once a
second, as one Redis key that expires with it (`{prefix}board:{owner}`), and `/queue`
reads them all. A `/cancel` for a job another process holds marks the job cancelled in
Redis (`JobRecords.mark_cancelled`); its owner looks for marks on its jobs at the same
beat and cancels them, and a process that adopts the job after its owner died cancels
it instead of drawing it. Each job still has one owner and one outcome, so the user
hears once per job: "cancelled" at once, the job's own "stopped" within a second.

Why not one queue in Redis: the fair order and the batches are formed where the jobs
are held; sharing them would be a distributed queue of our own, which the scale-out
issue rules out (and Serve's own queue cannot be fair per user).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from imaging.jobs.model import JobInfo, JobState
from imaging.jobs.queueing import QueueingRunner
from imaging.jobs.records import JobRecords

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

PUBLISH_S = 1.0  # how stale another process's /queue view may be


class SharedJobs:
    """A `JobBoard` (imaging/jobs/runner.py) over this process's runner and the jobs of
    the other processes. The runner itself stays its owner's to submit to and close."""

    def __init__(self, runner: QueueingRunner, records: JobRecords, redis: Redis, *,
                 prefix: str = "easel:", publish_s: float = PUBLISH_S) -> None:
        self.runner = runner
        self.records = records
        self.redis = redis
        self.owner = records.owner
        self.prefix = prefix
        self.publish_s = publish_s
        self._others_waiting = 0
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def _boards(self) -> str:
        return f"{self.prefix}boards"

    def _board(self, owner: str) -> str:
        return f"{self.prefix}board:{owner}"

    # ---- the JobBoard contract -------------------------------------------------------
    async def cancel(self, job_id: str, user: str | None = None) -> bool:
        if await self.runner.cancel(job_id, user=user):
            return True
        for _, info in await self._others():
            if info.id == job_id and (user is None or info.user == user):
                await self.records.mark_cancelled(job_id)  # its owner stops it within a beat
                return True
        return False

    async def cancel_user(self, user: str) -> int:
        count = await self.runner.cancel_user(user)
        theirs = [info for _, info in await self._others() if info.user == user]
        for info in theirs:
            await self.records.mark_cancelled(info.id)
        return count + len(theirs)

    async def jobs_for(self, user: str) -> list[JobInfo]:
        mine = self.runner.snapshot(user)
        try:
            others = await self._others()
        except Exception as exc:  # Redis away: this process's own jobs are still true
            log.warning("could not read the other bot processes' jobs: %s", exc)
            return mine
        return mine + [info for _, info in others if info.user == user]

    @property
    def queue_length(self) -> int:
        """Waiting jobs, all users: this process's now, the others' as last read."""
        return self.runner.queue_length + self._others_waiting

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.redis.delete(self._board(self.owner))
            await self.redis.srem(self._boards, self.owner)

    # ---- publishing and hearing -------------------------------------------------------
    def start(self) -> None:
        """Publish this process's jobs once a beat, and stop those cancelled elsewhere."""
        self._tasks = [asyncio.create_task(self._publish_forever(), name="easel-jobs-board")]

    async def publish(self) -> None:
        data = [_to_json(info) for info in self.runner.snapshot()]
        ttl_ms = int(self.publish_s * 3000)  # three missed beats: the process is gone
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self._board(self.owner), json.dumps(data), px=ttl_ms)
            pipe.sadd(self._boards, self.owner)
            await pipe.execute()

    async def _publish_forever(self) -> None:
        while True:
            try:
                await self.publish()
                await self._heard()
            except Exception as exc:  # Redis away for a moment: the key just expires
                log.warning("could not publish this process's jobs: %s", exc)
            await asyncio.sleep(self.publish_s)

    async def _others(self) -> list[tuple[str, JobInfo]]:
        owners = sorted(o.decode() if isinstance(o, bytes) else o
                        for o in await self.redis.smembers(self._boards))
        owners = [o for o in owners if o != self.owner]
        if not owners:
            self._others_waiting = 0
            return []
        raws = await self.redis.mget([self._board(o) for o in owners])
        gone = [o for o, raw in zip(owners, raws, strict=True) if raw is None]
        if gone:
            await self.redis.srem(self._boards, *gone)
        out = [(o, _from_json(d)) for o, raw in zip(owners, raws, strict=True) if raw
               for d in json.loads(raw)]
        self._others_waiting = sum(1 for _, i in out if i.state is JobState.QUEUED)
        return out

    async def _heard(self) -> None:
        """Cancel what other processes marked cancelled among this process's jobs."""
        ids = [info.id for info in self.runner.snapshot()]
        if not ids:
            return
        for job_id, marked in zip(ids, await self.records.cancelled_any(ids), strict=True):
            if marked and await self.runner.cancel(job_id):
                log.info("job %s cancelled from another bot process", job_id)


def _to_json(info: JobInfo) -> dict[str, Any]:
    return {**asdict(info), "state": info.state.value}


def _from_json(data: dict[str, Any]) -> JobInfo:
    return JobInfo(**{**data, "state": JobState(data["state"])})
