"""Jobs: what was asked, the states a job moves through, and the events channels see.

A job is queued -> running -> done | failed | cancelled. While it waits, its owner gets
`JobQueued(position, eta_s)` whenever its place in line changes; while it runs,
`JobProgress(step, total, preview)`; then the handle's result (or an error). Nothing here
knows about chats: a user is an opaque id, a tenant an opaque group of users.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from PIL import Image

from imaging.engine import EngineError, GenerationError, ImageRequest

log = logging.getLogger(__name__)


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


def new_job_id() -> str:
    return secrets.token_urlsafe(9)  # 12 characters: fits in a Discord custom_id


@dataclass(slots=True)
class ImageJob:
    request: ImageRequest
    user: str
    tenant: str | None = None
    engine: str | None = None  # a named engine of the deployment; None = the default
    id: str = field(default_factory=new_job_id)
    submitted: float = field(default_factory=time.monotonic)
    # What the job counts as against the image quotas; None: its `request.n`. A picture
    # larger than the engine's own size (an upscale) counts by its pixel area, so large
    # pictures cannot be had for the price of one.
    quota_images: int | None = None

    @property
    def counted_images(self) -> int:
        return self.request.n if self.quota_images is None else self.quota_images


@dataclass(frozen=True, slots=True)
class JobQueued:
    job: str
    position: int  # 1 = the next to run
    eta_s: float  # estimated seconds until the job's images are ready


@dataclass(frozen=True, slots=True)
class JobProgress:
    job: str
    step: int
    total: int
    preview: Image.Image | None = None  # a cheap look at the picture so far


JobEvent = JobQueued | JobProgress
EventSink = Callable[[JobEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class JobInfo:
    """One job as `/queue` shows it."""

    id: str
    user: str
    state: JobState
    prompt: str
    images: int
    position: int | None  # None once it runs
    eta_s: float | None
    step: int = 0
    total: int = 0


class JobCancelled(EngineError):
    """The job was cancelled (by its owner) before it finished."""


class QuotaExceeded(EngineError):
    """A quota would be exceeded; nothing was queued. The message names the limit."""

    def __init__(self, message: str, limit: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_after_s = retry_after_s


class JobMetrics(Protocol):
    """What the runner reports, for operators' dashboards (bot/app/metrics.py: Prometheus)."""

    def queue_depth(self, jobs: int) -> None: ...

    def job_waited(self, seconds: float) -> None: ...

    def batch_ran(self, engine: str, seconds: float, images: int) -> None: ...

    def job_ended(self, outcome: str) -> None: ...


class NoMetrics:
    def queue_depth(self, jobs: int) -> None:
        pass

    def job_waited(self, seconds: float) -> None:
        pass

    def batch_ran(self, engine: str, seconds: float, images: int) -> None:
        pass

    def job_ended(self, outcome: str) -> None:
        pass


def engine_failure(exc: Exception, engine: str, jobs: int) -> GenerationError:
    """What the jobs of a failed batch end with, logged for the operator."""
    if isinstance(exc, GenerationError):
        # Already said in words (a remote refusal, a timeout): no traceback needed.
        log.warning("%s failed on %d job(s): %s", engine, jobs, exc)
        return exc
    # The operator needs the traceback; the user gets the short message.
    log.exception("image engine %s failed on a batch of %d job(s)", engine, jobs)
    err = GenerationError(f"the image model failed ({type(exc).__name__})")
    err.__cause__ = exc
    return err
