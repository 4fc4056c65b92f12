"""Prometheus metrics for operators: the queue, the engine and the safety gate.

One `CollectorRegistry` per app (no process-wide default registry), so two apps in one
process (tests, a blue/green restart) never share or double-count series. The runner
reports through `JobMetrics`; safety blocks are counted by `MeteredGate`, a thin wrapper
around the gate, so safety/ needs to know nothing about Prometheus.
"""

from __future__ import annotations

from PIL import Image
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from safety.audit import Checkpoint
from safety.gate import Gate
from safety.policy import Verdict

# Seconds: from a turbo model on a GPU (tens of ms) to a big model on a CPU (minutes).
_TIME_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
_BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 32, 64)


class EaselMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self._depth = Gauge("easel_queue_depth", "Image jobs waiting to run", registry=r)
        self._wait = Histogram("easel_job_wait_seconds", "Time a job waited in the queue",
                               buckets=_TIME_BUCKETS, registry=r)
        self._generation = Histogram("easel_generation_seconds",
                                     "Engine time of one batch (one pipeline call)",
                                     buckets=_TIME_BUCKETS, registry=r)
        self._images = Counter("easel_images", "Images generated", ["engine"], registry=r)
        self._jobs = Counter("easel_jobs", "Image jobs by how they ended", ["outcome"],
                             registry=r)
        self._blocks = Counter("easel_safety_blocks", "Safety gate blocks",
                               ["checkpoint", "category"], registry=r)
        self._batch = Histogram("easel_batch_images", "Images per pipeline call",
                                buckets=_BATCH_BUCKETS, registry=r)
        self._api = Counter("easel_api_requests", "Requests to the APIs other apps call, by "
                            "API, endpoint, key (its name; '-' without a valid key) and status",
                            ["api", "endpoint", "key", "status"], registry=r)
        self._api_images = Counter("easel_api_images", "Images delivered through the APIs",
                                   ["api", "key"], registry=r)

    # ---- imaging.jobs.JobMetrics -------------------------------------------------
    def queue_depth(self, jobs: int) -> None:
        self._depth.set(jobs)

    def job_waited(self, seconds: float) -> None:
        self._wait.observe(seconds)

    def batch_ran(self, engine: str, seconds: float, images: int) -> None:
        self._generation.observe(seconds)
        self._images.labels(engine=engine).inc(images)
        self._batch.observe(images)

    def job_ended(self, outcome: str) -> None:
        self._jobs.labels(outcome=outcome).inc()

    # ---- the APIs (bot/api: `ApiMetrics`) -------------------------------------------
    def api_request(self, api: str, endpoint: str, key: str, status: int) -> None:
        self._api.labels(api=api, endpoint=endpoint, key=key, status=str(status)).inc()

    def api_images(self, api: str, key: str, images: int) -> None:
        self._api_images.labels(api=api, key=key).inc(images)

    # ---- the gate ------------------------------------------------------------------
    def blocked(self, checkpoint: str, verdict: Verdict) -> None:
        category = verdict.category.value if verdict.category is not None else \
            ("error" if verdict.error else "other")
        self._blocks.labels(checkpoint=checkpoint, category=category).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The scrape body and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MeteredGate:
    """The gate, counting every block by checkpoint and category."""

    def __init__(self, gate: Gate, metrics: EaselMetrics) -> None:
        self.gate = gate
        self.metrics = metrics

    async def warm_up(self) -> None:
        await self.gate.warm_up()

    async def check_text(self, text: str, checkpoint: Checkpoint, user_id: str,
                         strictness: str | None = None) -> Verdict:
        verdict = await self.gate.check_text(text, checkpoint, user_id, strictness)
        if not verdict.allowed:
            self.metrics.blocked(checkpoint, verdict)
        return verdict

    async def check_images(self, images: list[Image.Image], user_id: str,
                           strictness: str | None = None) -> list[Verdict]:
        verdicts = await self.gate.check_images(images, user_id, strictness)
        for v in verdicts:
            if not v.allowed:
                self.metrics.blocked("output", v)
        return verdicts

    def refusal_message(self, verdict: Verdict) -> str:
        return self.gate.refusal_message(verdict)

    def withheld_message(self, verdicts: list[Verdict]) -> str | None:
        return self.gate.withheld_message(verdicts)
