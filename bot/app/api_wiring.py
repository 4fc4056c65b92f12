"""What the APIs other apps call get of the services: `ApiTools` (bot/api/tool_calls.py),
and the A1111 routes and the MCP server's /mcp route on the app (EASEL_API=on: added by
`create_app` after `install_api`, whose key store and key-owned records they use)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from bot.api.a1111 import add_a1111_routes
from bot.api.mcp_server import McpHttp, add_mcp_route
from bot.api.tool_calls import ApiTools
from bot.app.engines import single_engine
from bot.app.openai_wiring import API_CONVERSATIONS, API_KEYS
from bot.state.conversations import ConversationStore
from bot.state.keys import KeyStore

if TYPE_CHECKING:  # the services pull in torch
    from bot.app.services import Services


def api_tools(svc: Services, keys: KeyStore | None = None,
              conversations: ConversationStore | None = None) -> ApiTools:
    """`keys` None: no key checks at all (the local stdio MCP server). `conversations`:
    where the callers' pictures and choices are noted (the API keys' own store, which
    `easel keys revoke --forget` reads); None: the chat's."""
    s = svc.settings
    return ApiTools(svc.tools, svc.gate, svc.store, conversations or svc.conversations,
                    svc.engines or single_engine(svc.engine), svc.shared_jobs or svc.runner,
                    keys=keys, quotas=svc.quotas, metrics=svc.metrics,
                    strictness=s.safety_strictness, max_side=s.max_image_side,
                    max_images=s.max_images, max_body=s.api_max_body_mb * 1024 * 1024)


def install_a1111_and_mcp(app: web.Application,
                          get_services: Callable[[web.Application], Services]) -> None:
    """`/sdapi/v1/*` and `/mcp`, with the key store and the keys' own records that
    `install_api` (bot/app/openai_wiring.py, called before this) puts on the app."""

    def get_api(a: web.Application) -> ApiTools:
        return api_tools(get_services(a), a[API_KEYS], a[API_CONVERSATIONS])

    add_a1111_routes(app, get_api)
    add_mcp_route(app, lambda a: McpHttp(get_api(a)))
