"""The long-lived services, wired from the settings: engine, stores, runner, gate, tools.

`build_services` is the one place that decides which implementation each protocol gets
(memory or Redis records, file or Redis images, the default or a disabled gate, the canvas
tools in bot/app/canvas.py); `Services` owns what it opened and closes it in `aclose`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from botbuilder.core import Storage
from PIL import Image

from bot.app.canvas import canvas_tools
from bot.app.describe import describe_tool
from bot.app.engines import build_runner, engine_identity, engine_profile, single_engine
from bot.app.metrics import EaselMetrics, MeteredGate
from bot.app.scale import Cluster
from bot.app.settings import Settings, SettingsError
from bot.app.stores import storage_prefix  # Redis keys' prefix (the CLI's too)
from bot.arena.board import arena_page
from bot.arena.entries import parse_entries
from bot.arena.redis_store import RedisArenaStore
from bot.arena.store import ArenaStore, MemoryArenaStore, journal_path
from bot.llm.base import Brain
from bot.llm.factory import build_brain
from bot.llm.rules import RulesBrain
from bot.pipeline.assistant import Assistant, AssistantConfig
from bot.pipeline.recovery import Recovery
from bot.state.conversations import StorageConversationStore
from bot.state.storage import EtagMemoryStorage, RedisStorage
from bot.tasks import BackgroundTasks
from imaging.engine import ImageEngine
from imaging.engines.registry import EngineSet
from imaging.jobs import JobRunner, QuotaConfig, Quotas
from imaging.jobs.records import JobRecords
from imaging.jobs.shared import SharedJobs
from imaging.provenance import Provenance, ProvenanceConfig
from imaging.store import FileImageStore, ImageStore, RedisImageStore
from safety.config import GateConfig, SafetyPolicy
from safety.factory import build_gate
from safety.gate import Gate
from tools.base import ToolRegistry
from tools.image import EditImageTool, GenerateImageTool, ImageCheck, ImageLimits
from tools.keep import KeepTrying
from tools.stamp import Stamp

log = logging.getLogger(__name__)


def load_brain(settings: Settings) -> Brain:
    """Blocking for the transformers backend (loads the model)."""
    return build_brain(settings.rewriter, model=settings.llm_model,
                       base_url=settings.llm_base_url, api_key=settings.llm_api_key)


@dataclass(slots=True)
class Services:
    """Long-lived objects shared by every channel."""

    settings: Settings
    engine: ImageEngine  # the default engine
    store: ImageStore
    runner: JobRunner
    tools: ToolRegistry
    assistant: Assistant
    brain: Brain
    gate: Gate
    conversations: StorageConversationStore
    metrics: EaselMetrics
    redis: aioredis.Redis | None = None
    owns_redis: bool = False  # close the client on shutdown only if we opened it
    http: aiohttp.ClientSession | None = None  # remote safety backends' session, opened here
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    engines: EngineSet | None = None
    provenance: Provenance | None = None
    stamp: Stamp | None = None  # marks and signs every delivered image (and channel copies)
    arena_store: ArenaStore | None = None
    arena_page: Callable[[web.Request], Awaitable[web.StreamResponse]] | None = None
    records: JobRecords | None = None  # EASEL_RUNNER=ray: job records and delivery claims
    recovery: Recovery | None = None  # ... and the finishing of a stopped process's jobs
    shared_jobs: SharedJobs | None = None  # ... and /queue, /cancel across bot processes
    quotas: Quotas | None = None  # the per-user limits (an API key sets its own there)

    async def aclose(self) -> None:
        if self.recovery is not None:
            await self.recovery.aclose()  # our jobs become adoptable at once
        await self.tasks.aclose()
        if self.shared_jobs is not None:
            await self.shared_jobs.aclose()
        await self.runner.close()
        if self.arena_store is not None:
            await self.arena_store.aclose()
        if self.engines is not None:
            await self.engines.aclose()
        await self.brain.aclose()
        if self.http is not None:
            await self.http.close()
        if self.redis is not None and self.owns_redis:
            await self.redis.aclose()

    async def purge_images_forever(self, every_s: float = 3600) -> None:
        """Expire stored image files with the same TTL as the records."""
        while True:
            try:
                gone = await self.store.purge_expired()
                if gone:
                    log.info("deleted %d expired images", gone)
            except OSError as exc:
                log.warning("image purge failed: %s", exc)
            await asyncio.sleep(every_s)


def gate_config(settings: Settings, engine_device: str = "cpu") -> GateConfig:
    return GateConfig(
        text_backend=settings.safety_text_backend,
        image_backend=settings.safety_image_backend,
        policy_path=settings.safety_policy,
        audit_path=settings.safety_audit_path or settings.data_dir / "safety-audit.jsonl",
        audit_salt=settings.safety_audit_salt,
        openai_base_url=settings.safety_openai_base_url,
        openai_api_key=settings.safety_openai_api_key,
        azure_endpoint=settings.safety_azure_endpoint,
        azure_key=settings.safety_azure_key,
        # The ONNX encoder's threads are its own (None: 1). For a torch head the count is
        # process-wide: one thread on a busy 2-core CPU, and on bigger CPU-only hosts the
        # image engine's own setting (cores - 1) is left alone.
        encoder_threads=1 if engine_device != "cpu" or (os.cpu_count() or 1) <= 2 else None,
        image_device=settings.safety_image_device,
        text_cache_size=settings.safety_text_cache_size,
        self_harm_message=settings.safety_self_harm_message,
        dangerously_disable_safety=settings.dangerously_disable_safety,
    )


def build_safety(settings: Settings, redis_client: aioredis.Redis | None = None,
                 engine_device: str = "cpu") -> tuple[Gate, aiohttp.ClientSession | None]:
    """The gate, and the HTTP session its remote backends use (the caller closes it)."""
    config = gate_config(settings, engine_device)
    if settings.safety_strictness:
        policy = SafetyPolicy.load(config.policy_path)
        if settings.safety_strictness not in policy.strictness:
            raise SettingsError(f"EASEL_SAFETY_STRICTNESS must be one of "
                                f"{', '.join(policy.strictness)}")
    remote = {"openai", "azure"} & {config.text_backend, config.image_backend}
    session = aiohttp.ClientSession() if remote and not config.dangerously_disable_safety \
        else None
    try:
        return build_gate(config, session=session, redis=redis_client), session
    except BaseException:
        if session is not None:
            # Not yet owned by anyone: close it here (its connector is still empty).
            asyncio.ensure_future(session.close())
        raise


def image_check_for(gate: Gate, strictness: str | None = None) -> ImageCheck:
    """Checkpoint 3 as the image tool wants it: keep-flags plus the note for the user."""

    async def check(images: list[Image.Image], user_id: str) -> tuple[list[bool], str | None]:
        verdicts = await gate.check_images(images, user_id, strictness)
        return [v.allowed for v in verdicts], gate.withheld_message(verdicts)

    return check


def build_services(settings: Settings, engine: ImageEngine | EngineSet,
                   brain: Brain | None = None, redis_client: aioredis.Redis | None = None,
                   gate: Gate | None = None, cluster: Cluster | None = None) -> Services:
    """Wire the long-lived objects. With `EASEL_REDIS_URL`, records (and, if configured,
    images) go to Redis; `redis_client` lets tests and the CLI pass their own. Without a
    `gate` the configured one is built (`dangerously_disable_safety` is the only way to
    run without checks)."""
    brain = brain or RulesBrain()
    engines = engine if isinstance(engine, EngineSet) else single_engine(engine)
    engine = engines.default.engine
    ttl_s = int(settings.state_ttl_days * 86400)
    owns_redis = False
    if settings.redis_url and redis_client is None:
        owns_redis = True
        # Short timeouts: when Redis is down the user hears so within seconds.
        redis_client = aioredis.from_url(settings.redis_url, socket_timeout=3,
                                         socket_connect_timeout=3, health_check_interval=30)
    prefix = storage_prefix(settings)
    storage: Storage
    if redis_client is not None:
        storage = RedisStorage(redis_client, prefix=prefix, ttl_s=ttl_s)
    else:
        storage = EtagMemoryStorage(ttl_s=ttl_s)
    store: ImageStore
    if settings.image_store == "redis" and redis_client is not None:
        store = RedisImageStore(redis_client, prefix=prefix, ttl_s=ttl_s)
    else:
        store = FileImageStore(settings.data_dir / "images", ttl_s=ttl_s)
    metrics = EaselMetrics()
    quotas = build_quotas(settings, redis_client, prefix)
    ray = cluster.runner(quotas, metrics) if cluster is not None else None
    runner: JobRunner = ray or build_runner(engines, settings, quotas, metrics)
    several = len(engines) > 1
    limits = ImageLimits(
        default_size=settings.default_size() or engine.default_size,
        steps=engine.default_steps,
        guidance_scale=engine.guidance_scale,
        max_side=settings.max_image_side,
        max_images=settings.max_images,
        fixed_size=settings.default_size(),
    )
    http = None
    if gate is None:
        gate, http = build_safety(settings, redis_client, engine.identity.device)
    gate = MeteredGate(gate, metrics)
    provenance = build_provenance(settings)
    stamp = Stamp(provenance, store, engine_identity(engines))
    keep, records = KeepTrying(settings.store_retry_s), cluster.records if cluster else None
    generate = GenerateImageTool(runner, store, limits,
                                 image_check_for(gate, settings.safety_strictness),
                                 engines=engines if several else None, stamp=stamp,
                                 journal=records, keep=keep)
    tools = ToolRegistry([generate, EditImageTool(generate), *canvas_tools(
        settings, generate, engines, quotas, engine.identity.device),
        describe_tool(settings, store)])
    conversations = StorageConversationStore(storage, images=store)  # trimming deletes
    entries = parse_entries(engines.arena, engines.names())  # a bad [arena] stops start-up
    battles: ArenaStore = RedisArenaStore(redis_client, prefix=prefix) if redis_client \
        is not None else MemoryArenaStore(journal_path(settings.data_dir))
    tenant_levels = dict(settings.safety_tenant_strictness)
    if settings.safety_strictness:
        tenant_levels.setdefault("", settings.safety_strictness)
    shared = cluster.shared_jobs(ray) if cluster is not None and ray is not None else None
    assistant = Assistant(tools, brain, store=conversations, images=store, gate=gate,
                          jobs=shared or runner, tenant_strictness=tenant_levels, engines=engines,
                          arena=(battles, entries), provenance=provenance,
                          journal=records, job_records=records, keep=keep,
                          config=AssistantConfig(
                              max_images=settings.max_images, max_side=settings.max_image_side,
                              profile=engine_profile(engines.default),
                              engines=tuple(engines.names()) if several else (),
                              profiles={e.name: engine_profile(e) for e in engines}))
    services = Services(settings, engine, store, runner, tools, assistant, brain, gate,
                        conversations, metrics, redis=redis_client, owns_redis=owns_redis,
                        http=http, engines=engines, provenance=provenance, stamp=stamp,
                        arena_store=battles, arena_page=arena_page(battles), quotas=quotas)
    if cluster is not None and ray is not None:
        services.records = cluster.records
        services.shared_jobs = shared
        services.recovery = cluster.recovery(ray, generate, assistant.studio,
                                             conversations, services.tasks, assistant.arena)
    return services


def build_provenance(settings: Settings) -> Provenance:
    """The signing keys and the watermark key: loaded (or, the first time, made under
    EASEL_DATA_DIR) now, so a bad certificate stops the start-up with its message."""
    provenance = Provenance(provenance_config(settings))
    provenance.prepare()
    return provenance


def provenance_config(settings: Settings) -> ProvenanceConfig:
    return ProvenanceConfig(data_dir=settings.data_dir, cert_path=settings.c2pa_cert,
                            key_path=settings.c2pa_key,
                            include_prompt=settings.c2pa_include_prompt,
                            visible_mark=settings.visible_mark)


def build_quotas(settings: Settings, redis_client: aioredis.Redis | None, prefix: str
                 ) -> Quotas:
    """Per-user and per-tenant quotas, shared through Redis when easel has one."""
    config = QuotaConfig(
        concurrent_jobs=settings.quota_concurrent_jobs or None,
        images_per_minute=settings.quota_images_per_minute,
        images_per_day=settings.quota_images_per_day,
        tenant_images_per_minute=settings.quota_tenant_images_per_minute,
        tenant_images_per_day=settings.quota_tenant_images_per_day,
        exempt=settings.quota_exempt_users(),
    )
    return Quotas(config, redis=redis_client, redis_url=_redis_url(settings, redis_client),
                  prefix=prefix)


def _redis_url(settings: Settings, client: aioredis.Redis | None) -> str | None:
    """Where `limits` should count: the server `client` talks to (it opens its own pool,
    so the URL is rebuilt from the client's, which may have been passed in by a test)."""
    if client is None:
        return settings.redis_url
    kw = client.connection_pool.connection_kwargs
    if "path" in kw:
        return f"unix://{kw['path']}?db={kw.get('db', 0)}"
    auth = f"{kw.get('username') or ''}:{kw['password']}@" if kw.get("password") else ""
    return f"redis://{auth}{kw.get('host', '127.0.0.1')}:{kw.get('port', 6379)}/{kw.get('db', 0)}"
