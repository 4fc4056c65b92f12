"""The MCP server: easel's image tools for assistants (Claude Desktop, VS Code, agents).

Built on the official `mcp` SDK's low-level `Server` (bot/api/mcp_tools.py has the tools),
served two ways:

- **stdio** (`easel mcp`, bot/app/mcp_cli.py): one local assistant, the services of this
  process, no key (the caller is the machine's own user, `mcp:local`).
- **Streamable HTTP at `/mcp`** (`EASEL_API=on`): every request carries
  `Authorization: Bearer KEY`, an easel API key, checked before the SDK sees the request
  (401 otherwise); the key is the user for quotas and the audit, and the SDK binds each
  session to the key that opened it.

Why the HTTP transport is bridged into aiohttp rather than run as the SDK's own Starlette
app: the SDK offers streamable HTTP only as an ASGI app (`StreamableHTTPSessionManager`).
Running it under uvicorn would mean a second HTTP server on another port (another thing
to expose, secure and health-check), and a server in another thread could not await the
job runner, whose futures belong to easel's loop. So the aiohttp route hands the request
to the manager's ASGI entry point (bot/api/asgi_bridge.py) in easel's own loop: one
server, one port, the same request-size limit and middlewares, tool calls on the loop
the runner lives on. The manager's task group lives in a task of its own for the app's
life (anyio's scopes must end in the task that began them).

Sessions are stateful (`Mcp-Session-Id`): a `notifications/cancelled` comes in a later
POST and must find the request it cancels, so with several bot processes behind a load
balancer a session must stay on one process (sticky sessions). DNS-rebinding protection
is off on purpose: every request needs a key that a rebinding page never has, and the
allowed-host list would otherwise have to name every host name easel is served under.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import mcp_types as types
from aiohttp import web
from mcp.server import Server, ServerRequestContext
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.stdio import stdio_server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from bot.api.asgi_bridge import BodyTooLarge, read_body, serve_asgi
from bot.api.mcp_tools import call_tool, tool_list
from bot.api.tool_calls import ApiTools, Caller

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"
LOCAL = Caller("mcp:local", "user/mcp/-/local")  # stdio: this machine's own user
CALLER = "easel.caller"  # where the HTTP route leaves the key's caller in the ASGI scope
INSTRUCTIONS = ("easel makes and edits pictures. generate_image draws from a prompt; its "
                "result gives each picture's image id, which edit_image and the canvas "
                "tools (edit_region, zoom_out, pan, upscale) take to change that picture; "
                "describe_image suggests prompts for a picture.")
CallerOf = Callable[[ServerRequestContext[Any, Any]], Caller]


def build_server(api: ApiTools, caller_of: CallerOf) -> Server[Any]:
    """The MCP server over `api`; `caller_of` says who sent a request."""

    async def list_tools(ctx: ServerRequestContext[Any, Any],
                         params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tool_list(api))

    async def call(ctx: ServerRequestContext[Any, Any],
                   params: types.CallToolRequestParams) -> types.CallToolResult:
        return await call_tool(api, caller_of(ctx), params.name, dict(params.arguments or {}),
                               ctx.session.report_progress)

    return Server("easel", version="1", instructions=INSTRUCTIONS,
                  on_list_tools=list_tools, on_call_tool=call)


async def run_stdio(open_api: Callable[[], AbstractAsyncContextManager[ApiTools]]) -> None:
    """Serve one assistant over this process's stdin and stdout until it hangs up. The
    services are opened (`open_api`) once the SDK holds stdout, so nothing a library
    prints while loading a model can reach the wire (the SDK points fd 1 at stderr)."""
    async with stdio_server() as (read, write), open_api() as api:
        server = build_server(api, lambda ctx: LOCAL)
        await server.run(read, write, server.create_initialization_options())


def _http_caller(ctx: ServerRequestContext[Any, Any]) -> Caller:
    request = ctx.request
    caller = request.scope.get(CALLER) if request is not None else None
    if not isinstance(caller, Caller):  # the route always sets it; never serve without
        raise PermissionError("no API key on this request")
    return caller


class McpHttp:
    """Streamable HTTP at /mcp: the key check, then the SDK's session manager."""

    def __init__(self, api: ApiTools) -> None:
        self.api = api
        self.manager = StreamableHTTPSessionManager(
            build_server(api, _http_caller), max_request_body_size=api.max_body,
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False))
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        started = asyncio.Event()

        async def sessions() -> None:
            async with self.manager.run():
                started.set()
                await self._stop.wait()

        self._task = asyncio.create_task(sessions(), name="easel-mcp-sessions")
        waiting = asyncio.ensure_future(started.wait())
        await asyncio.wait({waiting, self._task}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if self._task.done():
            self._task.result()  # it failed to start: say why

    async def aclose(self) -> None:
        """End every session (idempotent)."""
        self._stop.set()
        if self._task is not None:
            await asyncio.shield(self._task)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        caller = await self.api.authorize(_bearer(request.headers.get("Authorization", "")))
        if caller is None:
            response: web.StreamResponse = _rpc_error(
                401, -32001, "a valid easel API key is required (Authorization: Bearer KEY)",
                {"WWW-Authenticate": 'Bearer realm="easel"'})
        else:
            try:
                body = await read_body(request, self.api.max_body)
            except BodyTooLarge as exc:
                response = _rpc_error(413, -32600, str(exc))
            else:
                # The SDK binds a session to the principal that opened it.
                user = AuthenticatedUser(AccessToken(token=caller.user_id,
                                                     client_id=caller.user_id, scopes=[]))
                response = await serve_asgi(self.manager.handle_request, request, body,
                                            user=user, **{CALLER: caller})
        self.api.count("mcp", request.method, caller, response.status)
        return response


def _rpc_error(status: int, code: int, message: str,
               headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"jsonrpc": "2.0", "id": None,
                              "error": {"code": code, "message": message}},
                             status=status, headers=headers)


def _bearer(header: str) -> str:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


McpFactory = Callable[[web.Application], McpHttp]


def add_mcp_route(app: web.Application, factory: McpFactory) -> None:
    """Serve /mcp (POST, GET, DELETE). The server is built by `factory` at start-up,
    after the cleanup contexts added before this call (the services) have run."""
    holder: dict[str, McpHttp] = {}

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        mcp = factory(app)
        await mcp.start()
        holder["mcp"] = mcp
        try:
            yield
        finally:
            await mcp.aclose()

    async def route(request: web.Request) -> web.StreamResponse:
        return await holder["mcp"].handle(request)

    async def shutdown(app: web.Application) -> None:
        # Before aiohttp waits for open requests: end the sessions, so a client's
        # long-lived GET stream does not hold the shutdown for its grace period.
        if "mcp" in holder:
            await holder["mcp"].aclose()

    app.on_shutdown.append(shutdown)
    app.cleanup_ctx.append(lifecycle)
    for method in ("POST", "GET", "DELETE"):
        app.router.add_route(method, MCP_PATH, route)
