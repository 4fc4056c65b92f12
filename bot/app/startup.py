"""`easel serve`'s services: the local engines, or the Ray cluster's replicas.

The one place that knows both wirings (bot/app/services.py builds, bot/app/scale.py joins
the cluster), so neither has to import the other.
"""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis

from bot.app.engines import load_engines
from bot.app.scale import open_cluster
from bot.app.services import Services, build_services, load_brain, storage_prefix
from bot.app.settings import Settings


async def open_services(settings: Settings) -> Services:
    """The services of `easel serve`: local engines, or the Ray cluster's."""
    brain = await asyncio.to_thread(load_brain, settings)
    if settings.runner != "ray":
        engines = await asyncio.to_thread(load_engines, settings)
        return build_services(settings, engines, brain)
    assert settings.redis_url  # the settings refuse ray without Redis
    redis = aioredis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=3,
                              health_check_interval=30)
    cluster, engine = await open_cluster(settings, redis, storage_prefix(settings))
    services = build_services(settings, engine, brain, redis_client=redis, cluster=cluster)
    services.owns_redis = True
    return services
