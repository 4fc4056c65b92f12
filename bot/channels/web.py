"""The local web chat: `GET /` serves one page, `POST /api/chat` runs a turn.

A turn's answer streams back as NDJSON, one event per line, in the order they happen:
`{"type": "message", "reply": {...}}` for the immediate answer ("working on it", help
text), `{"type": "queued", "job": id, "position": n, "eta_s": s}` while the job waits
(again whenever its place changes), `{"type": "progress", "job": id, "step": s, "total":
t, "preview": data-URI-or-null}` while the image is made, then the final `message`. Streaming keeps one request per turn (no job ids or polling) and the page
reads it with `fetch` and a stream reader.

Each browser gets a random session id in an HttpOnly, SameSite=Strict cookie; it is the
conversation and the user, so history, `/undo` and `/forget` work as in the other
channels. SameSite=Strict plus a JSON-only body means another site cannot post turns on a
visitor's behalf. The chat is meant for trying easel locally: `EASEL_WEB_CHAT=auto` (the
default) turns it off once Teams or Discord credentials are set, because that server is
then reachable from the internet.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import re
import secrets
from collections.abc import Callable
from importlib import resources
from typing import Any

from aiohttp import web
from PIL import Image

from bot.assistant import Assistant
from bot.turn import Reply, Turn
from imaging.jobs import JobEvent, JobQueued

log = logging.getLogger(__name__)

COOKIE = "easel_web"
CHAT_PATH = "/api/chat"
MAX_TEXT = 4000
_SESSION = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
_GENERATION = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

AssistantGetter = Callable[[web.Application], Assistant]


def reply_json(reply: Reply) -> dict[str, Any]:
    """A reply as the page renders it (images by URL; they are served at /images/{id})."""
    return {
        "kind": reply.kind.value,
        "text": reply.text,
        "prompt": reply.prompt,
        "user_prompt": reply.user_prompt,
        "images": [{"url": f"/images/{im.image_id}", "seed": im.seed, "width": im.width,
                    "height": im.height} for im in reply.images],
        "withheld": reply.withheld,
        "generation_id": reply.generation_id,
        "retry_after_s": reply.retry_after_s,
    }


async def event_json(event: JobEvent) -> dict[str, Any]:
    """`queued` {job, position, eta_s} or `progress` {job, step, total, preview}."""
    if isinstance(event, JobQueued):
        return {"type": "queued", "job": event.job, "position": event.position,
                "eta_s": event.eta_s}
    preview = None
    if event.preview is not None:
        preview = await asyncio.to_thread(data_uri, event.preview)  # an image codec
    return {"type": "progress", "job": event.job, "step": event.step, "total": event.total,
            "preview": preview}


def data_uri(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _line(event: dict[str, Any]) -> bytes:
    return (json.dumps(event, separators=(",", ":")) + "\n").encode()


def _bad_request(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


class WebChat:
    """The web chat routes, bound to the assistant at start-up."""

    def __init__(self, get_assistant: AssistantGetter, enabled: bool) -> None:
        self._get_assistant = get_assistant
        self.enabled = enabled
        self._page = resources.files("bot.channels").joinpath("web_chat.html").read_text()

    async def page(self, request: web.Request) -> web.Response:
        if not self.enabled:
            return web.Response(
                text="easel is running. The web chat is off on this server "
                     "(EASEL_WEB_CHAT=on enables it; see the README).\n",
                content_type="text/plain")
        resp = web.Response(text=self._page, content_type="text/html", headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                                       "style-src 'unsafe-inline'; script-src 'unsafe-inline'",
        })
        if not _SESSION.match(request.cookies.get(COOKIE, "")):
            resp.set_cookie(COOKIE, secrets.token_urlsafe(24), httponly=True, samesite="Strict",
                            path="/", max_age=30 * 86400)
        return resp

    async def chat(self, request: web.Request) -> web.StreamResponse:
        if not self.enabled:
            raise web.HTTPNotFound(text="the web chat is off on this server")
        session = request.cookies.get(COOKIE, "")
        if not _SESSION.match(session):
            return _bad_request("no chat session: open the chat page first", 401)
        if request.content_type != "application/json":
            return _bad_request("send JSON: {\"text\": \"...\"}", 415)
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _bad_request("malformed JSON")
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return _bad_request("expected {\"text\": \"...\"}")
        text = body["text"].strip()
        if not text:
            return _bad_request("empty message")
        if len(text) > MAX_TEXT:
            return _bad_request(f"message too long (at most {MAX_TEXT} characters)")
        reference = body.get("reference")
        if reference is not None and not (isinstance(reference, str)
                                          and _GENERATION.match(reference)):
            return _bad_request("bad reference")

        turn = Turn(channel="web", conversation_id=f"web-{session}", user_id=f"web-{session}",
                    text=text, reference=reference)
        response = await self._get_assistant(request.app).respond(turn)
        stream = web.StreamResponse(headers={"Content-Type": "application/x-ndjson",
                                             "Cache-Control": "no-store"})
        await stream.prepare(request)
        gone = False

        async def send(event: dict[str, Any]) -> None:
            # A closed tab must not stop the picture: it still lands in the history
            # (/history shows it), so write errors only stop the writing.
            nonlocal gone
            if gone:
                return
            try:
                await stream.write(_line(event))
            except (ConnectionError, RuntimeError):
                gone = True

        if response.immediate is not None:
            await send({"type": "message", "reply": reply_json(response.immediate)})
        if response.followup is not None:
            async def progress(event: JobEvent) -> None:
                await send(await event_json(event))

            reply = await response.followup(progress)
            await send({"type": "message", "reply": reply_json(reply)})
        if gone:
            return stream
        await stream.write_eof()
        return stream


def add_web_routes(app: web.Application, get_assistant: AssistantGetter, enabled: bool) -> None:
    chat = WebChat(get_assistant, enabled)
    app.router.add_get("/", chat.page)
    app.router.add_post(CHAT_PATH, chat.chat)
    log.info("web chat %s", "on at /" if enabled else "off (EASEL_WEB_CHAT)")
