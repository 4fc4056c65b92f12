"""The job lifecycle: fair queue and quotas, the local runner, handles and events."""

from imaging.jobs.handle import JobHandle
from imaging.jobs.local import LocalJobRunner
from imaging.jobs.model import (
    EventSink,
    ImageJob,
    JobCancelled,
    JobEvent,
    JobInfo,
    JobMetrics,
    JobProgress,
    JobQueued,
    JobState,
    NoMetrics,
    QuotaExceeded,
)
from imaging.jobs.quotas import QuotaConfig, Quotas
from imaging.jobs.router import EngineRouter
from imaging.jobs.runner import JobBoard, JobRunner

__all__ = [
    "EngineRouter", "EventSink", "ImageJob", "JobCancelled", "JobEvent", "JobHandle", "JobInfo", "JobMetrics",
    "JobBoard", "JobProgress", "JobQueued", "JobRunner", "JobState", "LocalJobRunner", "NoMetrics",
    "QuotaConfig", "QuotaExceeded", "Quotas",
]
