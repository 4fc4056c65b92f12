"""How easel is doing: its dependencies for /healthz and /readyz, and a 503 for any
request that meets a storage outage.

/healthz answers 200 while the process runs, with "status": "ok" or "degraded" and the
state of each dependency: an orchestrator must not restart easel because Redis is away (a
restart brings no Redis back, and pictures waiting to be stored would be lost). /readyz
answers 503 while a dependency is down, so a load balancer sends new users to a process
that can serve them. Both follow Redis back by themselves: redis-py reconnects on the
next command, and every check asks again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import redis.exceptions as rx
from aiohttp import web
from redis.asyncio import Redis

from bot.state.storage import OUTAGES

log = logging.getLogger(__name__)

PING_TIMEOUT_S = 1.0  # a health check answers quickly, whatever redis-py's own retries do
RETRY_AFTER_S = 5


async def dependencies(redis: Redis | None) -> dict[str, str]:
    """Each dependency easel has: "ok", or "unavailable" and why."""
    found: dict[str, str] = {}
    if redis is not None:
        try:
            await asyncio.wait_for(redis.ping(), PING_TIMEOUT_S)
            found["redis"] = "ok"
        except (TimeoutError, rx.RedisError, OSError) as exc:
            found["redis"] = f"unavailable ({type(exc).__name__})"
    return found


def healthy(found: dict[str, str]) -> bool:
    return all(state == "ok" for state in found.values())


@web.middleware
async def outages(request: web.Request,
                  handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> web.StreamResponse:
    """A request that meets a storage outage answers 503 and says so, not 500. (A web
    chat turn streams its answer: there the assistant says it in the stream.)"""
    try:
        return await handler(request)
    except OUTAGES as exc:
        log.error("%s %s: storage unavailable: %s", request.method, request.path, exc)
        return web.json_response(
            {"error": "storage is temporarily unavailable; please try again in a minute"},
            status=503, headers={"Retry-After": str(RETRY_AFTER_S)})
