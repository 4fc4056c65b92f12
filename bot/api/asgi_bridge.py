"""One aiohttp request served by an ASGI application, in easel's own event loop.

The MCP SDK's streamable HTTP transport is an ASGI app (`StreamableHTTPSessionManager.
handle_request`). easel's server is aiohttp, so rather than run a second HTTP server
(uvicorn on another port, another process to operate) the aiohttp route hands its request
to the ASGI app here: the body goes in as one `http.request` message (read first, within
the API's size limit), and what the app sends comes back as an aiohttp
`StreamResponse`, written as it arrives, so a server-sent-events stream (progress
notifications) reaches the client event by event. The app runs in the request's task, on
the same loop as the rest of easel: nothing blocks, nothing is copied between threads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

# Set by aiohttp or hop-by-hop: never copied from the app's answer.
_SKIP = {"transfer-encoding", "connection", "keep-alive"}
CHUNK = 256 * 1024
_RUNNING: set[asyncio.Future[None]] = set()  # apps still running for a gone request


class BodyTooLarge(Exception):
    """The request body is over the limit (the caller answers 413 in its API's shape)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than this server takes "
                         f"({limit // (1024 * 1024)} MB)")
        self.limit = limit


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, counted as it comes: `BodyTooLarge` as soon as it (or what the
    client declared) passes `limit`, before the rest is read."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(limit)
    body = bytearray()
    while chunk := await request.content.read(CHUNK):
        body += chunk
        if len(body) > limit:
            raise BodyTooLarge(limit)
    return bytes(body)


def http_scope(request: web.Request, **extra: Any) -> dict[str, Any]:
    """The ASGI `http` scope of an aiohttp request (`extra` is added to it: the caller's
    authenticated user, for instance)."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    client = (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) and len(peer) >= 2 else None
    host, _, port = (request.host or "").rpartition(":")
    server = (host, int(port)) if host and port.isdigit() else None
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": f"{request.version.major}.{request.version.minor}",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.raw_path.split("?", 1)[0].encode("latin-1"),
        "root_path": "",
        "query_string": request.query_string.encode("latin-1"),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1"))
                    for k, v in request.headers.items()],
        "client": client,
        "server": server,
        "state": {},
        **extra,
    }


async def serve_asgi(app: AsgiApp, request: web.Request, body: bytes, **scope_extra: Any
                     ) -> web.StreamResponse:
    """Run `app` for `request`, whose `body` the caller has read (`read_body`), and
    return the response it wrote."""
    scope = http_scope(request, **scope_extra)
    finished = asyncio.Event()
    body_sent = False
    response: web.StreamResponse | None = None

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        # Nothing more will come: the app learns of the end once it has answered.
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal response
        if finished.is_set():
            return  # the client is gone: what is sent now goes nowhere (as under uvicorn)
        try:
            if message["type"] == "http.response.start":
                response = web.StreamResponse(status=int(message["status"]))
                for key, value in message.get("headers", ()):
                    name = key.decode("latin-1")
                    if name.lower() not in _SKIP:
                        response.headers.add(name, value.decode("latin-1"))
                await response.prepare(request)
            elif message["type"] == "http.response.body":
                if response is None:
                    raise RuntimeError("the ASGI app sent a body before its status")
                chunk = message.get("body", b"")
                if chunk:
                    await response.write(chunk)
                if not message.get("more_body", False):
                    await response.write_eof()
        except ConnectionError:
            finished.set()  # the app's next receive() says http.disconnect

    # The app runs in a task of its own: if aiohttp cancels the handler (a client that
    # hung up, with handler cancellation on), the app is told (`http.disconnect`) and
    # still ends its own way; a transport's clean-up must not be cut off half-way.
    running = asyncio.ensure_future(app(scope, receive, send))
    _RUNNING.add(running)
    running.add_done_callback(lambda done: _ended(done, finished))
    try:
        await asyncio.shield(running)
    except asyncio.CancelledError:
        finished.set()
        raise
    if response is None:  # the app ended without answering: its fault, not the client's
        return web.Response(status=500, text="no response")
    return response


def _ended(done: asyncio.Future[None], finished: asyncio.Event) -> None:
    _RUNNING.discard(done)
    finished.set()
    if not done.cancelled() and done.exception() is not None:
        # Raised to the handler when it still waits; logged here when it is gone.
        log.debug("ASGI app ended with %r", done.exception())
