"""The runner contract: local thread or Ray Serve, the same calls and the same events."""

from __future__ import annotations

from typing import Protocol

from imaging.jobs.handle import JobHandle
from imaging.jobs.model import ImageJob, JobInfo


class JobBoard(Protocol):
    """What `/queue` and `/cancel` need: a runner, or every bot process's jobs
    (imaging/jobs/shared.py)."""

    async def cancel(self, job_id: str, user: str | None = None) -> bool:
        """Cancel one job (only if it is `user`'s, when given). A queued job never runs;
        a running one stops at its next step. False when there was nothing to cancel."""
        ...

    async def cancel_user(self, user: str) -> int:
        """Cancel all of a user's queued and running jobs; returns how many."""
        ...

    async def jobs_for(self, user: str) -> list[JobInfo]:
        """The user's open jobs, wherever they run (every bot process, with the Ray
        runner)."""
        ...

    @property
    def queue_length(self) -> int:
        """Jobs waiting, all users."""
        ...


class JobRunner(JobBoard, Protocol):
    async def submit(self, job: ImageJob) -> JobHandle:
        """Queue the job (quotas permitting: else `QuotaExceeded`, nothing queued)."""
        ...

    async def close(self) -> None: ...
