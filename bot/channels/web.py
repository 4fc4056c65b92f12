"""The local web chat: `GET /` serves one page, `POST /api/chat` runs a turn.

`GET /api/chat/history` gives the conversation back after a reload; `/chat.js` and the
icon are the page's only other assets (nothing external, no inline script, no eval).

A turn's body is `{"text", "reference"?, "image"?, "mask"?}`: `image` a data: URI picture
to edit, `mask` a data: URI PNG drawn over the referenced picture (white = change), which
with the words makes a region edit.

A turn's answer streams back as NDJSON, one event per line, in the order they happen:
`{"type": "message", "reply": {...}}` for the immediate answer ("working on it", help
text), `{"type": "queued", "job": id, "position": n, "eta_s": s}` while the job waits
(again whenever its place changes), `{"type": "progress", "job": id, "step": s, "total":
t, "preview": data-URI-or-null}` while the image is made, then the final `message`.
Streaming keeps one request per turn (no polling) and the page reads it with `fetch` and
a stream reader.

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
import binascii
import json
import logging
import re
import secrets
from collections.abc import Callable
from importlib import resources
from typing import Any

from aiohttp import web

from bot.channels.attachments import AttachmentError, AttachmentLimits, check_image_bytes
from bot.channels.web_json import event_json, history_json, reply_json
from bot.channels.wire_json import parse_json
from bot.pipeline import replies
from bot.pipeline.assistant import Assistant
from bot.turn import MAX_TEXT_CHARS, Claims, Turn, clean_text
from imaging.jobs import JobEvent

log = logging.getLogger(__name__)

COOKIE = "easel_web"
CHAT_PATH = "/api/chat"
MAX_UPLOAD_BYTES = 3 * 1024 * 1024  # a data: URI of it fits the app's 4 MiB request limit
# No external asset, no inline script, no eval: the page and its script come from here.
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")
_SESSION = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
_GENERATION = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MASK_REFUSED = "The mask must be a PNG picture, white where the picture should change"

AssistantGetter = Callable[[web.Application], Assistant]
ClaimsGetter = Callable[[web.Application], Claims | None]


def _line(event: dict[str, Any]) -> bytes:
    return (json.dumps(event, separators=(",", ":")) + "\n").encode()


def _bad_request(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


class WebChat:
    """The web chat routes, bound to the assistant at start-up."""

    def __init__(self, get_assistant: AssistantGetter, enabled: bool,
                 get_claims: ClaimsGetter | None = None) -> None:
        self._get_assistant = get_assistant
        self._get_claims = get_claims
        self.enabled = enabled
        files = resources.files("bot.channels")
        self._page = files.joinpath("web_chat.html").read_text()
        self._script = files.joinpath("web_chat.js").read_text()
        self._icon = files.joinpath("web_icon.svg").read_text()
        self.limits = AttachmentLimits(max_bytes=MAX_UPLOAD_BYTES)

    async def page(self, request: web.Request) -> web.Response:
        if not self.enabled:
            return web.Response(
                text="easel is running. The web chat is off on this server "
                     "(EASEL_WEB_CHAT=on enables it; see the README).\n",
                content_type="text/plain")
        resp = web.Response(text=self._page, content_type="text/html", headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": CSP,
            "Referrer-Policy": "no-referrer",
        })
        if not _SESSION.match(request.cookies.get(COOKIE, "")):
            resp.set_cookie(COOKIE, secrets.token_urlsafe(24), httponly=True, samesite="Strict",
                            path="/", max_age=30 * 86400)
        return resp

    async def script(self, request: web.Request) -> web.Response:
        if not self.enabled:
            raise web.HTTPNotFound(text="the web chat is off on this server")
        return web.Response(text=self._script, content_type="text/javascript",
                            headers={"Cache-Control": "no-cache",
                                     "X-Content-Type-Options": "nosniff"})

    async def icon(self, request: web.Request) -> web.Response:
        return web.Response(text=self._icon, content_type="image/svg+xml",
                            headers={"Cache-Control": "public, max-age=86400"})

    async def history(self, request: web.Request) -> web.Response:
        """The conversation so far, for a page that was reloaded (same cookie, same record)."""
        if not self.enabled:
            raise web.HTTPNotFound(text="the web chat is off on this server")
        session = request.cookies.get(COOKIE, "")
        if not _SESSION.match(session):
            return web.json_response({"entries": []})
        turn = Turn(channel="web", conversation_id=f"web-{session}", user_id=f"web-{session}",
                    text="")
        entries = await self._get_assistant(request.app).history(turn)
        return web.json_response(history_json(entries), headers={"Cache-Control": "no-store"})

    async def _attachment(self, value: object) -> bytes:
        """A pasted, dropped or picked picture, sent as a data: URI."""
        if not isinstance(value, str) or not value.startswith("data:image/") or \
                ";base64," not in value:
            raise AttachmentError("Attach a PNG, JPEG or WebP picture.")
        payload = value.split(",", 1)[1]
        if len(payload) * 3 // 4 > MAX_UPLOAD_BYTES:
            raise AttachmentError(f"That picture is too big (over "
                                  f"{MAX_UPLOAD_BYTES // (1024 * 1024)} MB).")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise AttachmentError("That picture's data is damaged.") from None
        return await asyncio.to_thread(check_image_bytes, data, self.limits)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        if not self.enabled:
            raise web.HTTPNotFound(text="the web chat is off on this server")
        session = request.cookies.get(COOKIE, "")
        if not _SESSION.match(session):
            return _bad_request("no chat session: open the chat page first", 401)
        if request.content_type != "application/json":
            return _bad_request("send JSON: {\"text\": \"...\"}", 415)
        try:
            body = parse_json(await request.read(), request.charset)
        except ValueError as exc:
            return _bad_request(f"malformed JSON: {exc}")
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return _bad_request("expected {\"text\": \"...\"}")
        text = clean_text(body["text"]).strip()
        if len(text) > MAX_TEXT_CHARS:  # before any decoding: nothing of it is read
            return _bad_request(replies.TOO_LONG)
        attachments: tuple[bytes, ...] = ()
        if body.get("image") is not None:
            try:
                attachments = (await self._attachment(body["image"]),)
            except AttachmentError as exc:
                return _bad_request(str(exc))
        mask: bytes | None = None
        if body.get("mask") is not None:  # drawn over the referenced picture: a region edit
            try:
                mask = await self._attachment(body["mask"])
            except AttachmentError as exc:
                return _bad_request(f"{MASK_REFUSED} ({str(exc).rstrip('.')})")
        if not text and not attachments:
            return _bad_request("empty message")
        reference = body.get("reference")
        if reference is not None and not (isinstance(reference, str)
                                          and _GENERATION.match(reference)):
            return _bad_request("bad reference")

        # A job finished by another bot process (this one restarted) lands in the history,
        # which the page shows on its next load: the address is the conversation itself.
        turn = Turn(channel="web", conversation_id=f"web-{session}", user_id=f"web-{session}",
                    text=text, reference=reference, attachments=attachments, mask=mask,
                    delivery={"channel": "web"})
        response = await self._get_assistant(request.app).respond(turn)
        # no-cache, not no-store: Chromium reports a streamed no-store fetch that it read to
        # the end as aborted (playwright issue 42742); a POST answer is never reused anyway.
        stream = web.StreamResponse(headers={"Content-Type": "application/x-ndjson",
                                             "Cache-Control": "no-cache"})
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
            claims = self._get_claims(request.app) if self._get_claims else None
            if reply.job_id and claims is not None and not await claims.claim(reply.job_id):
                log.info("job %s was already delivered by another process", reply.job_id)
            else:
                await send({"type": "message", "reply": reply_json(reply)})
        if gone:
            return stream
        await stream.write_eof()
        return stream


def add_web_routes(app: web.Application, get_assistant: AssistantGetter, enabled: bool,
                   get_claims: ClaimsGetter | None = None) -> None:
    chat = WebChat(get_assistant, enabled, get_claims)
    app.router.add_get("/", chat.page)
    app.router.add_get("/chat.js", chat.script)
    app.router.add_get("/favicon.svg", chat.icon)
    app.router.add_get("/favicon.ico", chat.icon)  # what browsers ask for by default
    app.router.add_get(CHAT_PATH + "/history", chat.history)
    app.router.add_post(CHAT_PATH, chat.chat)
    log.info("web chat %s", "on at /" if enabled else "off (EASEL_WEB_CHAT)")
