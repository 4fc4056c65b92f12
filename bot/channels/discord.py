"""Discord channel over HTTP interactions (no gateway): signed interaction -> Turn ->
Assistant -> interaction webhook.

Discord gives an interaction 3 seconds. The Assistant's quick answers (help, settings,
refusals, "there's no picture yet") go back inline as ephemeral messages, seen only by the
asker. Image work is acknowledged with a public deferred response (type 5) and continues
in a background task, which edits the original message with progress and finally with the
images. A refusal or error that only shows up later (the prompt or image checks, a failed
generation) is sent as an ephemeral follow-up and the public placeholder is deleted.

This module holds the HTTP side (signature check, dispatch, the inline-or-defer choice and
the routes); the background part lives in `discord_delivery`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, cast

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bot.channels.discord_api import DiscordAPI, InteractionToken
from bot.channels.discord_canvas import canvas_answer
from bot.channels.discord_check import interaction_problem
from bot.channels.discord_delivery import SORRY, InteractionCtx, InteractionDelivery
from bot.channels.discord_render import DiscordRenderer, ImageSource, SignCopy, text_payload
from bot.channels.discord_verify import SignatureVerifier, parse_public_key
from bot.channels.discord_wire import (
    DEFAULT_ATTACHMENT_LIMIT,
    EPHEMERAL,
    CommandText,
    Interaction,
    InteractionType,
    ResponseType,
    WireError,
    button_text,
    command_text,
    display_name,
    edit_modal,
    interaction_channel_id,
    interaction_user,
    modal_text,
    parse_custom_id,
)
from bot.channels.wire_json import parse_json
from bot.tasks import BackgroundTasks
from bot.turn import Claims, Reply, ReplyKind, Response, Turn

log = logging.getLogger(__name__)

INTERACTIONS_PATH = "/api/discord/interactions"


class Responder(Protocol):
    async def respond(self, turn: Turn) -> Response: ...


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    public_key: Ed25519PublicKey | None  # None: not configured, every request is refused
    api_base: str
    max_clock_skew_s: float = 300.0  # replay window for X-Signature-Timestamp
    # How long the Assistant may take before the request is deferred: private commands
    # (/help, /settings) are answered inline when they can be; image commands only wait a
    # little, to keep acknowledgements fast.
    inline_budget_s: float = 1.0
    public_budget_s: float = 0.25
    progress_interval_s: float = 1.0
    bot_token: str | None = None  # a restarted bot's fallback once an interaction expired

    @classmethod
    def create(cls, public_key: str | None, api_base: str, bot_token: str | None = None,
               **overrides: Any) -> DiscordConfig:
        """Validates the key now, so a bad one stops start-up rather than every request."""
        key = parse_public_key(public_key) if public_key else None
        overrides.setdefault("bot_token", bot_token or None)
        return cls(key, api_base, **overrides)


def _default_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60, connect=10))


class DiscordChannel:
    def __init__(self, assistant: Responder, store: ImageSource, tasks: BackgroundTasks,
                 config: DiscordConfig,
                 session_factory: Callable[[], aiohttp.ClientSession] = _default_session,
                 api_factory: Callable[[aiohttp.ClientSession, str], DiscordAPI] = DiscordAPI,
                 sign_copy: SignCopy | None = None, claims: Claims | None = None) -> None:
        """`sign_copy`: provenance for a copy re-encoded to fit Discord's size limit.
        `claims`: one delivery per job when several processes may finish it."""
        self.assistant = assistant
        self.claims = claims
        self.renderer = DiscordRenderer(store, sign_copy=sign_copy)
        self.tasks = tasks
        self.config = config
        self.verifier = (SignatureVerifier(config.public_key, max_skew_s=config.max_clock_skew_s)
                         if config.public_key else None)
        self._session_factory = session_factory
        self._api_factory = api_factory
        self._session: aiohttp.ClientSession | None = None
        self._api: DiscordAPI | None = None
        self._delivery: InteractionDelivery | None = None
        self._own: set[asyncio.Task[Any]] = set()

    async def redeliver(self, delivery: dict, reply: Reply) -> None:
        """Post a job finished by another process (this bot restarted); claimed already."""
        if self._delivery is None:
            await self.start()
        assert self._delivery is not None
        await self._delivery.redeliver(delivery, reply)

    @property
    def api(self) -> DiscordAPI:
        if self._api is None:
            raise RuntimeError("DiscordChannel.start() was not called")
        return self._api

    @property
    def delivery(self) -> InteractionDelivery:
        if self._delivery is None:
            raise RuntimeError("DiscordChannel.start() was not called")
        return self._delivery

    async def start(self) -> None:
        if self.verifier is None:
            log.warning("DISCORD_PUBLIC_KEY is not set: %s answers 401 to everything",
                        INTERACTIONS_PATH)
        self._session = self._session_factory()
        self._api = self._api_factory(self._session, self.config.api_base)
        self._api.bot_token = self._api.bot_token or self.config.bot_token
        self._delivery = InteractionDelivery(self._api, self.renderer,
                                             progress_interval_s=self.config.progress_interval_s,
                                             claims=self.claims)

    async def aclose(self) -> None:
        # Our deliveries use the session: stop them before it closes.
        for task in list(self._own):
            task.cancel()
        for task in list(self._own):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._session is not None:
            await self._session.close()

    # ---- HTTP ----------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        problem = ("DISCORD_PUBLIC_KEY is not set" if self.verifier is None else
                   self.verifier.problem(request.headers.get("X-Signature-Ed25519"),
                                         request.headers.get("X-Signature-Timestamp"), body))
        if problem:
            log.info("refused a Discord interaction: %s", problem)
            return web.json_response({"error": "invalid request signature"}, status=401)
        try:
            raw = parse_json(body)
            if not isinstance(raw, dict):
                raise ValueError("not an interaction")
            if problem := interaction_problem(raw):
                raise ValueError(problem)
            ix = cast(Interaction, raw)  # its shape checked just above
            return web.json_response(await self._dispatch(ix, time.monotonic()))
        except (ValueError, KeyError, TypeError) as exc:  # WireError is a ValueError
            log.info("malformed Discord interaction: %s", exc)
            return web.json_response({"error": "malformed interaction"}, status=400)

    async def _dispatch(self, ix: Interaction, received: float) -> dict[str, Any]:
        kind, data = ix["type"], ix.get("data") or {}
        if kind == InteractionType.PING:
            return {"type": ResponseType.PONG}
        if kind == InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE:
            return {"type": ResponseType.AUTOCOMPLETE_RESULT, "data": {"choices": []}}
        try:
            canvas = canvas_answer(kind, data, ix.get("message") or {})
            if isinstance(canvas, dict):  # a canvas button's next step: a menu or a modal
                return canvas
            if canvas is not None:
                cmd = canvas
            elif kind == InteractionType.APPLICATION_COMMAND:
                cmd = command_text(data)
            elif kind == InteractionType.MESSAGE_COMPONENT:
                action = parse_custom_id(str(data.get("custom_id", "")))
                if action.kind == "e":
                    images = len((ix.get("message") or {}).get("attachments") or []) or 1
                    modal = edit_modal(action.generation_id, images)
                    if modal is not None:
                        return {"type": ResponseType.MODAL, "data": modal}
                cmd = button_text(action)
            elif kind == InteractionType.MODAL_SUBMIT:
                action = parse_custom_id(str(data.get("custom_id", "")))
                cmd = modal_text(action, data)
            else:
                raise ValueError(f"unknown interaction type {kind}")
        except WireError as exc:
            log.info("unsupported Discord interaction: %s", exc)
            return _message(f"I can't do that here ({exc}). Try `/help`.", ephemeral=True)
        return await self._start(ix, cmd, received)

    # ---- turns ---------------------------------------------------------------------------
    def _turn(self, ix: Interaction, cmd: CommandText) -> Turn:
        user = interaction_user(ix)
        guild_id = ix.get("guild_id")
        channel_type = (ix.get("channel") or {}).get("type")
        channel_id = interaction_channel_id(ix)
        # Wall-clock time: another process (after a restart) judges the token's 15 minutes.
        delivery = {"channel": "discord", "application_id": str(ix["application_id"]),
                    "token": str(ix["token"]), "received_at": time.time(),
                    "channel_id": channel_id, "user_id": str(user["id"]),
                    "private": cmd.private,
                    "attachment_limit": int(ix.get("attachment_size_limit")
                                            or DEFAULT_ATTACHMENT_LIMIT)}
        return Turn(channel="discord", conversation_id=channel_id,
                    user_id=str(user["id"]), text=cmd.text,
                    user_name=display_name(user, ix.get("member")),
                    is_group=bool(guild_id) or channel_type == 3,  # 3: group DM
                    tenant_id=guild_id, reference=cmd.reference, delivery=delivery)

    async def _start(self, ix: Interaction, cmd: CommandText, received: float) -> dict[str, Any]:
        turn = self._turn(ix, cmd)
        ctx = InteractionCtx(
            InteractionToken(str(ix["application_id"]), str(ix["token"]), received),
            turn.user_id, int(ix.get("attachment_size_limit") or DEFAULT_ATTACHMENT_LIMIT),
            cmd.private)
        # The Assistant usually decides in about a millisecond (image work is its followup).
        # Waiting that long lets a refusal or a "there's no picture yet" be answered inline
        # and ephemeral, so nothing about it ever shows in the channel; anything slower is
        # deferred and continues in the background.
        responding = asyncio.ensure_future(self.assistant.respond(turn))
        budget = self.config.inline_budget_s if cmd.private else self.config.public_budget_s
        await asyncio.wait({responding}, timeout=budget)
        if responding.done():
            if responding.exception() is not None:
                log.error("Discord turn failed", exc_info=responding.exception())
                return _message(SORRY, ephemeral=True)
            response = responding.result()
            reply = response.immediate
            if response.followup is None and reply is not None and (
                    cmd.private or reply.kind is not ReplyKind.IMAGES):
                return _message(reply.text, ephemeral=True)
        self._spawn(self.delivery.run(ctx, responding), turn)
        return {"type": ResponseType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
                **({"data": {"flags": EPHEMERAL}} if cmd.private else {})}

    def _spawn(self, coro: Coroutine[Any, Any, None], turn: Turn) -> None:
        task = self.tasks.spawn(coro, name=f"discord-{turn.conversation_id}")
        self._own.add(task)
        task.add_done_callback(self._own.discard)


def _message(text: str, *, ephemeral: bool) -> dict[str, Any]:
    return {"type": ResponseType.CHANNEL_MESSAGE_WITH_SOURCE,
            "data": text_payload(text, ephemeral=ephemeral)}


ChannelFactory = Callable[[web.Application], DiscordChannel]
_ROUTES: web.AppKey[bool] = web.AppKey("easel_discord_routes", bool)


def add_discord_routes(app: web.Application, channel_factory: ChannelFactory) -> None:
    """Serve POST /api/discord/interactions. The channel is built by `channel_factory` at
    start-up, after the cleanup contexts added before this call (create_app's services)
    have run. A second call is a no-op, so tests that add the route keep working once
    create_app adds it too."""
    if app.get(_ROUTES):
        return
    app[_ROUTES] = True
    holder: dict[str, DiscordChannel] = {}

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        channel = channel_factory(app)
        await channel.start()
        holder["channel"] = channel
        yield
        await channel.aclose()

    async def interactions(request: web.Request) -> web.StreamResponse:
        return await holder["channel"].handle(request)

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post(INTERACTIONS_PATH, interactions)
