"""Several engines behind one runner: each job goes to its engine's own fair queue.

Every engine has a `LocalJobRunner` (its queue, its workers: one for a local pipeline,
`max_concurrency` for a remote API), and they all share one `Quotas`, so a user's limits
count across engines. `/queue` and `/cancel` see every engine's jobs.
"""

from __future__ import annotations

from imaging.engine import GenerationError
from imaging.jobs.handle import JobHandle
from imaging.jobs.local import LocalJobRunner
from imaging.jobs.model import ImageJob, JobInfo


class EngineRouter:
    def __init__(self, runners: dict[str, LocalJobRunner], default: str) -> None:
        self.runners = runners
        self.default = default

    def runner_for(self, engine: str | None) -> LocalJobRunner:
        runner = self.runners.get(engine or self.default)
        if runner is None:
            raise GenerationError(f"there is no engine named {engine!r}")
        return runner

    @property
    def queue_length(self) -> int:
        return sum(r.queue_length for r in self.runners.values())

    pending = queue_length

    async def submit(self, job: ImageJob) -> JobHandle:
        return await self.runner_for(job.engine).submit(job)

    async def cancel(self, job_id: str, user: str | None = None) -> bool:
        for runner in self.runners.values():
            if await runner.cancel(job_id, user=user):
                return True
        return False

    async def cancel_user(self, user: str) -> int:
        return sum([await r.cancel_user(user) for r in self.runners.values()])

    async def jobs_for(self, user: str) -> list[JobInfo]:
        return [info for r in self.runners.values() for info in r.snapshot(user)]

    def seconds_per_image(self, engine: str) -> float | None:
        """What one image has taken on this engine lately; None before its first."""
        runner = self.runners.get(engine)
        return None if runner is None else runner.seconds_per_image()

    async def close(self) -> None:
        for runner in self.runners.values():
            await runner.close()
