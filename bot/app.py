"""All wiring in one place: settings -> services -> aiohttp application."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import web
from botbuilder.core import Storage, TurnContext
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication

from bot.assistant import Assistant, AssistantConfig
from bot.channels.bf_compat import (
    EaselCloudAdapter,
    patch_msrest_retry_policy,
    patch_openid_refresh,
)
from bot.channels.discord import DiscordChannel, DiscordConfig, add_discord_routes
from bot.channels.teams import TeamsBot
from bot.channels.teams_compose import ComposeExtension
from bot.channels.teams_render import TeamsRenderer
from bot.channels.web import add_web_routes
from bot.llm.base import Brain
from bot.llm.factory import build_brain
from bot.llm.rules import RulesBrain
from bot.settings import Settings, SettingsError
from bot.state import StorageConversationStore
from bot.storage import EtagMemoryStorage, RedisStorage
from bot.tasks import BackgroundTasks
from imaging.demo import default_model_dir
from imaging.diffusers_engine import DiffusersEngine
from imaging.engine import ImageEngine
from imaging.jobs import JobRunner
from imaging.store import ImageStore, RedisImageStore
from safety.config import GateConfig, SafetyPolicy
from safety.factory import build_gate
from safety.gate import SafetyGate
from tools.base import ToolRegistry
from tools.image import EditImageTool, GenerateImageTool, ImageLimits

log = logging.getLogger(__name__)

DEMO_NOTICE = (
    "easel is using its built-in DEMO model: a small model trained on simple drawn scenes "
    "(one or two of 12 things, 13 colours, plain or sky/sea/grass/night backgrounds, at 64 px "
    "shown at 256 px). For real images set EASEL_IMAGE_MODEL, e.g. "
    "EASEL_IMAGE_MODEL=stabilityai/sd-turbo (a GPU is strongly recommended); see the README."
)


def load_engine(settings: Settings) -> DiffusersEngine:
    """Blocking: loads the configured model, or the built-in demo model (shipped trained,
    in the package: nothing is downloaded or built)."""
    if settings.image_model:
        model = settings.image_model
    else:
        model = str(default_model_dir())
        log.warning(DEMO_NOTICE)
    engine = DiffusersEngine.load(
        model,
        device=settings.device,
        dtype=settings.dtype,
        default_steps=settings.image_steps,
        guidance_scale=settings.guidance_scale,
        max_batch_images=settings.max_batch_images,
    )
    engine.warm_up()
    return engine


@dataclass(slots=True)
class Services:
    """Long-lived objects shared by every channel."""

    settings: Settings
    engine: ImageEngine
    store: ImageStore | RedisImageStore
    runner: JobRunner
    tools: ToolRegistry
    assistant: Assistant
    brain: Brain
    conversations: StorageConversationStore | None = None
    redis: Any = None
    gate: SafetyGate | None = None
    owns_redis: bool = False  # close the client on shutdown only if we opened it
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)

    async def aclose(self) -> None:
        await self.tasks.aclose()
        await self.runner.close()
        await self.brain.aclose()
        if self.redis is not None and self.owns_redis:
            await self.redis.aclose()

    async def purge_images_forever(self, every_s: float = 3600) -> None:
        """Expire stored image files with the same TTL as the records."""
        while True:
            try:
                gone = await asyncio.to_thread(self.store.purge_expired_sync)
                if gone:
                    log.info("deleted %d expired images", gone)
            except OSError as exc:
                log.warning("image purge failed: %s", exc)
            await asyncio.sleep(every_s)


def load_brain(settings: Settings) -> Brain:
    """Blocking for the transformers backend (loads the model)."""
    return build_brain(settings.rewriter, model=settings.llm_model,
                       base_url=settings.llm_base_url, api_key=settings.llm_api_key)


def storage_prefix(settings: Settings) -> str:
    """Keys are namespaced per bot, so several bots can share one Redis."""
    return f"easel:{settings.microsoft_app_id or 'local'}:"


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
        # torch's thread count is process-wide. One thread makes the int8 encoder ~40x
        # faster on a busy 2-core CPU; on bigger CPU-only hosts the image engine's own
        # setting (cores - 1) is left alone.
        encoder_threads=1 if engine_device != "cpu" or (os.cpu_count() or 1) <= 2 else None,
        dangerously_disable_safety=settings.dangerously_disable_safety,
    )


def build_safety(settings: Settings, redis_client: Any = None, engine_device: str = "cpu"
                 ) -> SafetyGate:
    config = gate_config(settings, engine_device)
    session = None
    if "openai" in (config.text_backend, config.image_backend) or \
            "azure" in (config.text_backend, config.image_backend):
        session = aiohttp.ClientSession()
    if settings.safety_strictness:
        policy = SafetyPolicy.load(config.policy_path)
        if settings.safety_strictness not in policy.strictness:
            raise SettingsError(f"EASEL_SAFETY_STRICTNESS must be one of "
                                f"{', '.join(policy.strictness)}")
    return build_gate(config, session=session, redis=redis_client)


def image_check_for(gate: SafetyGate, strictness: str | None = None):
    """Checkpoint 3 as the image tool wants it: keep-flags plus the note for the user."""

    async def check(images: list, user_id: str) -> tuple[list[bool], str | None]:
        verdicts = await gate.check_images(images, user_id, strictness)
        return [v.allowed for v in verdicts], gate.withheld_message(verdicts)

    return check


def build_services(settings: Settings, engine: ImageEngine, brain: Brain | None = None,
                   redis_client: Any = None, gate: SafetyGate | None = None) -> Services:
    """Wire the long-lived objects. With `EASEL_REDIS_URL`, records (and, if configured,
    images) go to Redis; `redis_client` lets tests and the CLI pass their own."""
    brain = brain or RulesBrain()
    ttl_s = int(settings.state_ttl_days * 86400)
    owns_redis = False
    if settings.redis_url and redis_client is None:
        owns_redis = True
        import redis.asyncio as aioredis

        # Short timeouts: when Redis is down the user hears so within seconds.
        redis_client = aioredis.from_url(settings.redis_url, socket_timeout=3,
                                         socket_connect_timeout=3, health_check_interval=30)
    storage: Storage
    if redis_client is not None:
        storage = RedisStorage(redis_client, prefix=storage_prefix(settings), ttl_s=ttl_s)
    else:
        storage = EtagMemoryStorage(ttl_s=ttl_s)
    store: ImageStore | RedisImageStore
    if settings.image_store == "redis" and redis_client is not None:
        store = RedisImageStore(redis_client, prefix=storage_prefix(settings), ttl_s=ttl_s)
    else:
        store = ImageStore(settings.data_dir / "images", ttl_s=ttl_s)
    runner = JobRunner(engine, max_batch_images=settings.max_batch_images)
    default_size = settings.default_size() or engine.default_size
    limits = ImageLimits(
        default_size=default_size,
        steps=engine.default_steps,
        guidance_scale=getattr(engine, "guidance_scale", 0.0),
        max_side=settings.max_image_side,
        max_images=settings.max_images,
    )
    gate = gate or build_safety(settings, redis_client, getattr(engine, "device", "cpu"))
    generate = GenerateImageTool(runner, store, limits,
                                 image_check=image_check_for(gate, settings.safety_strictness))
    tools = ToolRegistry([generate, EditImageTool(generate)])
    conversations = StorageConversationStore(storage)
    tenant_levels = {t: lvl for t, lvl in settings.safety_tenant_strictness.items()}
    assistant = Assistant(tools, brain, store=conversations, images=store, gate=gate,
                          tenant_strictness=tenant_levels,
                          config=AssistantConfig(max_images=settings.max_images,
                                                 max_side=settings.max_image_side))
    if settings.safety_strictness:
        assistant.tenant_strictness.setdefault("", settings.safety_strictness)
    return Services(settings, engine, store, runner, tools, assistant, brain,
                    conversations=conversations, redis=redis_client, owns_redis=owns_redis,
                    gate=gate)


def _bot_framework_config(settings: Settings) -> SimpleNamespace:
    cfg = SimpleNamespace(
        APP_ID=settings.microsoft_app_id,
        APP_PASSWORD=settings.microsoft_app_password,
        APP_TYPE=settings.microsoft_app_type,
        APP_TENANTID=settings.microsoft_app_tenant_id,
    )
    if settings.bot_openid_metadata_url:
        # Any parameterized value switches botbuilder to its parameterized authentication,
        # which then needs the issuer too (otherwise every token is silently rejected).
        cfg.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL = settings.bot_openid_metadata_url
        cfg.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER = "https://api.botframework.com"
    return cfg


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
TEAMS_BOT: web.AppKey[TeamsBot] = web.AppKey("teams_bot", TeamsBot)


def create_app(settings: Settings, services: Services | None = None) -> web.Application:
    """The aiohttp app. Without `services`, the engine is loaded during start-up (in a
    thread), so a model that cannot be loaded stops the server with its clear message."""
    patch_msrest_retry_policy()
    patch_openid_refresh()
    app = web.Application(client_max_size=4 * 1024 * 1024)
    adapter = EaselCloudAdapter(ConfigurationBotFrameworkAuthentication(
        _bot_framework_config(settings)))

    async def on_turn_error(context: TurnContext, error: Exception) -> None:
        log.error("turn failed", exc_info=error)
        try:
            await context.send_activity("Sorry, something went wrong on my side. Please try again.")
        except Exception as exc:
            log.error("could not tell the user about the error: %s", exc)

    adapter.on_turn_error = on_turn_error
    state: dict[str, object] = {}

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        svc = services
        if svc is None:
            engine = await asyncio.to_thread(load_engine, settings)
            brain = await asyncio.to_thread(load_brain, settings)
            svc = build_services(settings, engine, brain)
        renderer = TeamsRenderer(svc.store, settings.public_url)
        state["services"] = svc
        w, h = settings.default_size() or svc.engine.default_size
        compose = ComposeExtension(svc.assistant, renderer, svc.tasks, default_size=f"{w}x{h}",
                                   max_images=settings.max_images)
        state["bot"] = TeamsBot(svc.assistant, adapter, renderer, svc.tasks,
                                settings.microsoft_app_id, compose=compose)
        app[SERVICES] = svc
        if svc.gate is not None:
            await svc.gate.warm_up()  # load the classifiers now, not on the first message
        app[TEAMS_BOT] = state["bot"]  # type: ignore[assignment]
        svc.tasks.spawn(svc.purge_images_forever(), name="easel-image-purge")
        log.info("easel is ready (image model: %s)", svc.engine.name)
        yield
        await svc.aclose()
        await state["bot"].aclose()  # type: ignore[attr-defined]
        await adapter.aclose()

    app.cleanup_ctx.append(lifecycle)
    # After `lifecycle`, so SERVICES is set when the Discord channel is built.
    discord_config = DiscordConfig.from_settings(settings)
    add_discord_routes(app, lambda a: DiscordChannel(
        a[SERVICES].assistant, a[SERVICES].store, a[SERVICES].tasks, discord_config))

    async def messages(request: web.Request) -> web.StreamResponse:
        return await adapter.process(request, state["bot"])  # type: ignore[arg-type]

    async def healthz(request: web.Request) -> web.Response:
        svc: Services = state["services"]  # type: ignore[assignment]
        return web.json_response({
            "status": "ok",
            "image_model": svc.engine.name,
            "demo_model": settings.image_model is None,
            "queued_jobs": svc.runner.pending,
        })

    async def image(request: web.Request) -> web.StreamResponse:
        svc: Services = state["services"]  # type: ignore[assignment]
        data = await svc.store.read(request.match_info["image_id"])
        if data is None:
            raise web.HTTPNotFound(text="no such image")
        return web.Response(body=data, content_type="image/png", headers={
            "Cache-Control": "private, max-age=86400",
            "X-Content-Type-Options": "nosniff",
        })

    add_web_routes(app, lambda a: a[SERVICES].assistant, settings.web_chat_enabled)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/images/{image_id}", image)
    return app
