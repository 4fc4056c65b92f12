"""The aiohttp application: routes and the resources' lifecycle, in one place.

The services themselves are wired in bot/app/services.py. Everything the handlers need is an
`app[...]` key set in the `lifecycle` cleanup context, which also closes it all again.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace

from aiohttp import web
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import ConfigurationBotFrameworkAuthentication

from bot.app.api_wiring import install_a1111_and_mcp
from bot.app.health import dependencies, healthy, outages
from bot.app.openai_wiring import install_api
from bot.app.services import Services, build_services
from bot.app.settings import Settings
from bot.app.startup import open_services
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
from imaging.provenance.manifest import sniff_mime

__all__ = ["SERVICES", "TEAMS_BOT", "Services", "build_services", "create_app", "discord_config"]

log = logging.getLogger(__name__)


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


def discord_config(settings: Settings, **overrides: object) -> DiscordConfig:
    """The Discord channel's settings; a malformed public key stops start-up (ConfigError)."""
    return DiscordConfig.create(settings.discord_public_key, settings.discord_api_base,
                                settings.discord_bot_token, **overrides)


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
TEAMS_BOT: web.AppKey[TeamsBot] = web.AppKey("teams_bot", TeamsBot)
ADAPTER: web.AppKey[EaselCloudAdapter] = web.AppKey("adapter", EaselCloudAdapter)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)


def create_app(settings: Settings, services: Services | None = None) -> web.Application:
    """The aiohttp app. Without `services`, the engine is loaded during start-up (in a
    thread), so a model that cannot be loaded stops the server with its clear message."""
    patch_msrest_retry_policy()
    patch_openid_refresh()
    # Every route that meets a storage outage answers 503 and says so (bot/app/health.py).
    app = web.Application(client_max_size=4 * 1024 * 1024, middlewares=[outages])
    app[SETTINGS] = settings
    adapter = EaselCloudAdapter(ConfigurationBotFrameworkAuthentication(
        _bot_framework_config(settings)))
    adapter.on_turn_error = _on_turn_error
    app[ADAPTER] = adapter

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        svc = services
        if svc is None:
            svc = await open_services(settings)
        app[SERVICES] = svc
        renderer = TeamsRenderer(svc.store, settings.public_url,
                                 sign_copy=svc.stamp.sign_copy if svc.stamp else None)
        w, h = settings.default_size() or svc.engine.default_size
        compose = ComposeExtension(svc.assistant, renderer, svc.tasks, default_size=f"{w}x{h}",
                                   max_images=settings.max_images)
        bot = TeamsBot(svc.assistant, adapter, renderer, svc.tasks, settings.microsoft_app_id,
                       compose=compose, claims=svc.records)
        app[TEAMS_BOT] = bot
        if svc.recovery is not None:
            svc.recovery.channels["teams"] = bot.delivery.redeliver
        try:
            await svc.gate.warm_up()  # load the classifiers now, not on the first message
            svc.tasks.spawn(svc.purge_images_forever(), name="easel-image-purge")
            log.info("easel is ready (image model: %s)", svc.engine.name)
            yield
        finally:
            await svc.aclose()
            await bot.aclose()
            await adapter.aclose()

    app.cleanup_ctx.append(lifecycle)
    # After `lifecycle`, so SERVICES is set when the Discord channel is built.
    channel_config = discord_config(settings)

    def discord_channel(a: web.Application) -> DiscordChannel:
        svc = a[SERVICES]
        channel = DiscordChannel(svc.assistant, svc.store, svc.tasks, channel_config,
                                 sign_copy=svc.stamp.sign_copy if svc.stamp else None,
                                 claims=svc.records)
        if svc.recovery is not None:
            svc.recovery.channels["discord"] = channel.redeliver
        return channel

    add_discord_routes(app, discord_channel)
    add_web_routes(app, lambda a: a[SERVICES].assistant, settings.web_chat_enabled,
                   lambda a: a[SERVICES].records)
    if settings.api == "on":  # the APIs other apps call, each with a key (bot/api)
        install_api(app, settings, lambda a: a[SERVICES])
        install_a1111_and_mcp(app, lambda a: a[SERVICES])  # /sdapi/v1 and /mcp beside /v1

    async def recovering(app: web.Application) -> AsyncIterator[None]:
        # Last, once every channel can post: finish the jobs of stopped bot processes.
        svc = app[SERVICES]
        if svc.recovery is not None:
            svc.tasks.spawn(svc.recovery.run_forever(), name="easel-job-recovery")
        if svc.shared_jobs is not None:
            svc.shared_jobs.start()  # /queue and /cancel see every bot process's jobs
        yield

    app.cleanup_ctx.append(recovering)
    app.router.add_post("/api/messages", _messages)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/images/{image_id}", _image)
    app.router.add_get("/arena", _arena)
    if settings.metrics == "on":
        app.router.add_get("/metrics", _metrics)
    return app


async def _on_turn_error(context: TurnContext, error: Exception) -> None:
    log.error("turn failed", exc_info=error)
    try:
        await context.send_activity("Sorry, something went wrong on my side. Please try again.")
    except Exception as exc:
        log.error("could not tell the user about the error: %s", exc)


async def _messages(request: web.Request) -> web.StreamResponse:
    app = request.app
    return await app[ADAPTER].process(request, app[TEAMS_BOT])


async def _healthz(request: web.Request) -> web.Response:
    """200 while easel runs; "degraded", with the dependency named, while one is down."""
    svc = request.app[SERVICES]
    found = await dependencies(svc.redis)
    return web.json_response({
        "status": "ok" if healthy(found) else "degraded",
        "dependencies": found,
        "image_model": svc.engine.name,
        "demo_model": request.app[SETTINGS].image_model is None,
        "queued_jobs": svc.runner.queue_length,
    })


async def _readyz(request: web.Request) -> web.Response:
    """For load balancers: 503 while a dependency is down, 200 once it is back."""
    found = await dependencies(request.app[SERVICES].redis)
    ready = healthy(found)
    return web.json_response({"status": "ready" if ready else "unavailable",
                              "dependencies": found}, status=200 if ready else 503)


async def _arena(request: web.Request) -> web.StreamResponse:
    """The arena's leaderboard page (bot/arena/board.py)."""
    page = request.app[SERVICES].arena_page
    if page is None:
        raise web.HTTPNotFound(text="no arena on this server")
    return await page(request)


async def _metrics(request: web.Request) -> web.Response:
    body, content_type = request.app[SERVICES].metrics.exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


async def _image(request: web.Request) -> web.StreamResponse:
    data = await request.app[SERVICES].store.read(request.match_info["image_id"])
    if data is None:
        raise web.HTTPNotFound(text="no such image")
    # Stored images are PNG, except copies re-encoded as JPEG (channels) or WebP (the API).
    kind = sniff_mime(data) or "image/png"
    return web.Response(body=data, content_type=kind, headers={
        "Cache-Control": "private, max-age=86400",
        "X-Content-Type-Options": "nosniff",
    })
