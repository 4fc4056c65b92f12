"""EASEL_RUNNER=ray: the bot joins a Ray cluster whose Serve replicas draw the images.

The bot loads no model then: it learns the engine's sizes, steps and limits from the
replicas (`describe()`), keeps the fair queue and the quotas, and dispatches to Serve.
Job records, owners' leases, delivery claims and the cluster's room live in Redis
(imaging/jobs/records.py), so a second bot process, or this one restarted, finishes and
delivers every job exactly once (bot/pipeline/recovery.py). Ray is imported only here, only then.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import redis.asyncio as aioredis

from bot.app.settings import Settings
from bot.pipeline.recovery import Battles, Recovery
from bot.pipeline.studio import Studio
from bot.state.conversations import ConversationStore
from bot.tasks import BackgroundTasks
from imaging.engine import (
    EngineCapabilities,
    EngineIdentity,
    GenerationError,
    ImageRequest,
    ImageResult,
    StepCallback,
)
from imaging.jobs.model import JobMetrics
from imaging.jobs.quotas import Quotas
from imaging.jobs.ray_runner import RayJobRunner, Workers
from imaging.jobs.records import JobRecords, RedisClusterSlots, new_owner
from imaging.jobs.shared import SharedJobs
from imaging.jobs.wire import WorkerInfo
from tools.image import GenerateImageTool

log = logging.getLogger(__name__)


class ClusterEngine:
    """The replicas' engine as the bot sees it: what it makes, never a model here."""

    def __init__(self, info: WorkerInfo) -> None:
        caps = dict(info.get("capabilities") or {})
        if caps.get("sizes"):
            caps["sizes"] = tuple(tuple(s) for s in caps["sizes"])
        self.capabilities = EngineCapabilities(**caps)
        self.name = str(info["name"])
        self.default_size = (int(info["default_size"][0]), int(info["default_size"][1]))
        self.default_steps = int(info["default_steps"])
        self.guidance_scale = float(info.get("guidance_scale", 0.0))
        self.max_batch_images = int(info["max_batch_images"])
        self.max_concurrency = 1
        self.warm_up_timing: tuple[ImageRequest, float] | None = None
        self.identity = EngineIdentity(model=str(info.get("model_name") or self.name),
                                       device=f"ray:{info.get('device', 'cpu')}",
                                       demo=bool(info.get("is_demo")))

    async def agenerate(self, reqs: list[ImageRequest], on_step: StepCallback | None = None
                        ) -> list[ImageResult]:
        raise GenerationError("this engine draws on the Ray cluster, not in the bot")

    def warm_up(self) -> None:
        pass  # the replicas warmed up when they started

    async def aclose(self) -> None:
        pass


@dataclass
class Cluster:
    workers: Workers
    records: JobRecords
    slots: RedisClusterSlots
    max_batch_images: int
    max_attempts: int = 3

    def runner(self, quotas: Quotas, metrics: JobMetrics) -> RayJobRunner:
        return RayJobRunner(self.workers, self.max_batch_images, slots=self.slots,
                            quotas=quotas, metrics=metrics, max_attempts=self.max_attempts)

    def shared_jobs(self, runner: RayJobRunner) -> SharedJobs:
        """`/queue` and `/cancel` over every bot process's jobs."""
        return SharedJobs(runner, self.records, self.records.redis, prefix=self.records.prefix)

    def recovery(self, runner: RayJobRunner, tool: GenerateImageTool, studio: Studio,
                 conversations: ConversationStore, tasks: BackgroundTasks,
                 battles: Battles | None = None) -> Recovery:
        return Recovery(self.records, runner, tool, studio, conversations, tasks,
                        battles=battles)


async def open_cluster(settings: Settings, redis: aioredis.Redis, prefix: str
                       ) -> tuple[Cluster, ClusterEngine]:
    try:
        # lazy: ray is optional (easelbot[ray])
        from imaging.jobs import ray_cluster
    except ImportError as exc:
        raise SystemExit("easel: EASEL_RUNNER=ray needs Ray Serve: "
                         "pip install 'easelbot[ray]'") from exc
    await asyncio.to_thread(ray_cluster.connect, settings.ray_address)
    try:
        workers = await ray_cluster.ServeWorkers.open(settings.ray_app)
    except Exception as exc:
        raise SystemExit(f"easel: no Serve application {settings.ray_app!r} answers on the "
                         f"Ray cluster at {settings.ray_address} ({type(exc).__name__}: {exc}); "
                         "deploy it first: easel ray deploy") from exc
    records = JobRecords(redis, owner=new_owner(), prefix=prefix)
    await records.heartbeat()
    cluster = Cluster(workers, records, RedisClusterSlots(redis, prefix=prefix),
                      workers.max_batch_images, settings.ray_max_attempts)
    log.info("drawing on Ray Serve app %r (%s, %d images per batch); bot process %s",
             settings.ray_app, workers.name, workers.max_batch_images, records.owner)
    return cluster, ClusterEngine(workers.info)
