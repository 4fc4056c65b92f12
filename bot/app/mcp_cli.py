"""`easel mcp`: easel's image tools for a local assistant (Claude Desktop, VS Code), over
MCP's stdio transport (bot/api/mcp_server.py). It loads this machine's services (the
configured engines, the gate, the store) like `easel chat`; no key: the caller is the
machine's own user. Log records go to stderr; stdout carries only MCP."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from bot.app.settings import Settings

if TYPE_CHECKING:  # the services pull in torch; the MCP SDK is loaded for this command only
    from bot.api.tool_calls import ApiTools
    from bot.app.services import Services

LocalServices = Callable[[Settings], Awaitable["Services"]]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
               settings: Callable[[], Settings], local_services: LocalServices) -> None:
    m = sub.add_parser("mcp", help="serve the image tools to a local assistant (MCP over "
                                   "stdio)")
    m.set_defaults(func=lambda a: asyncio.run(serve(settings, local_services)))


async def serve(settings: Callable[[], Settings], local_services: LocalServices) -> int:
    # lazy: the MCP SDK and the services (torch) load only for this command
    from bot.api.mcp_server import run_stdio
    from bot.app.api_wiring import api_tools  # lazy: (as above)

    @asynccontextmanager
    async def open_api() -> AsyncIterator[ApiTools]:
        svc = await local_services(settings())
        try:
            await svc.gate.warm_up()
            yield api_tools(svc)
        finally:
            await svc.aclose()

    await run_stdio(open_api)
    return 0
