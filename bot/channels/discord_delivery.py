"""Finishing a deferred Discord interaction in the background.

Holds what happens after the 3-second acknowledgement: waiting for the Assistant, running
its follow-up (image work) while editing the original message with progress, then editing
in the images, or telling a late refusal or error privately and removing the public
placeholder. `DiscordChannel` owns the HTTP side and hands each deferred turn here.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass

from PIL import Image

from bot.channels.discord_api import DiscordAPI, DiscordError, InteractionExpired, InteractionToken
from bot.channels.discord_render import (
    DiscordRenderer,
    ProgressView,
    progress_text,
    queued_text,
    text_payload,
)
from bot.channels.progress import ProgressEditor
from bot.turn import Claims, Reply, ReplyKind, Response
from imaging.jobs import JobEvent, JobQueued

log = logging.getLogger(__name__)

SORRY = "Sorry, something went wrong while making your image. Please try again."
PRIVATE_NOTE = "🔒 Answered privately."


@dataclass(frozen=True, slots=True)
class InteractionCtx:
    token: InteractionToken
    user_id: str
    attachment_limit: int
    private: bool  # the deferred/original message is ephemeral


class InteractionDelivery:
    """Answers deferred interactions through the interaction webhook."""

    def __init__(self, api: DiscordAPI, renderer: DiscordRenderer, *,
                 progress_interval_s: float, claims: Claims | None = None) -> None:
        self.api = api
        self.claims = claims
        self.lost = 0  # replies that could not be delivered at all (token expired, no bot token)
        self.renderer = renderer
        self.progress_interval_s = progress_interval_s

    async def run(self, ctx: InteractionCtx, responding: Awaitable[Response]) -> None:
        try:
            response = await responding
        except Exception:
            log.exception("Discord turn failed")
            return await self.deliver(ctx, Reply(ReplyKind.ERROR, SORRY))
        if response.followup is None:
            return await self.deliver(ctx, response.immediate or Reply(ReplyKind.TEXT, "Done."))
        working = response.immediate.text if response.immediate else "🎨 Working on it…"
        editor = ProgressEditor(self._show, min_interval_s=self.progress_interval_s,
                                name="discord-progress")
        editor.update((ctx, ProgressView(working)))

        async def progress(event: JobEvent) -> None:
            # Edited in place at most once a second (the editor keeps only the newest), the
            # way Midjourney shows a picture forming.
            if isinstance(event, JobQueued):
                view = ProgressView(queued_text(working, event.position, event.eta_s),
                                    event.job)
            else:
                png = await asyncio.to_thread(_png, event.preview) if event.preview else None
                view = ProgressView(progress_text(working, event.step, event.total),
                                    event.job, png)
            editor.update((ctx, view))

        try:
            reply = await asyncio.wait_for(response.followup(progress),
                                           timeout=max(0.0, ctx.token.remaining()))
        except TimeoutError:
            if ctx.token.remaining() <= 0:
                log.error("gave up on a Discord interaction: its token expired (15 min) "
                          "before the image was ready")
                await editor.close()
                return None
            log.exception("Discord image turn timed out")
            reply = Reply(ReplyKind.ERROR, SORRY)
        except Exception:
            log.exception("Discord image turn failed")
            reply = Reply(ReplyKind.ERROR, SORRY)
        await editor.close()
        if reply.job_id and self.claims is not None and not await self.claims.claim(reply.job_id):
            log.info("job %s was already delivered by another process", reply.job_id)
            return None
        await self.deliver(ctx, reply)

    async def redeliver(self, delivery: dict, reply: Reply) -> None:
        """A job another process finished: through the interaction webhook while its token
        lives (15 min), else as a channel message with the bot token, else a counted loss."""
        age = time.time() - float(delivery["received_at"])
        token = InteractionToken(delivery["application_id"], delivery["token"],
                                 time.monotonic() - age)
        ctx = InteractionCtx(token, delivery["user_id"], int(delivery["attachment_limit"]),
                             bool(delivery.get("private")))
        if token.remaining() > 0:
            await self.deliver(ctx, reply)
            return
        if self.api.bot_token and delivery.get("channel_id"):
            try:
                payload: dict = text_payload(reply.text or "Here is your picture.")
                files: list = []
                if reply.kind is ReplyKind.IMAGES and reply.images:
                    msg = await self.renderer.render_images(
                        reply, user_id=ctx.user_id, attachment_limit=ctx.attachment_limit)
                    payload, files = msg.payload, msg.files
                await self.api.request("POST", f"/channels/{delivery['channel_id']}/messages",
                                       payload=payload, files=files, auth=True)
                return
            except (LookupError, ValueError, DiscordError) as exc:
                log.error("could not post a recovered reply to Discord: %s", exc)
        self.lost += 1
        log.error("lost a Discord reply: its interaction expired and no bot token can post it")

    async def _show(self, update: tuple[InteractionCtx, ProgressView]) -> None:
        ctx, view = update
        msg = view.message()
        await self.api.edit_original(ctx.token, msg.payload, msg.files, attempts=1)

    async def deliver(self, ctx: InteractionCtx, reply: Reply) -> None:
        try:
            if reply.kind is ReplyKind.CANCELLED:
                # In place of the working message (and its preview and Cancel button).
                await self.api.edit_original(ctx.token, text_payload(reply.text))
                return
            if reply.kind is ReplyKind.IMAGES and reply.images:
                try:
                    msg = await self.renderer.render_images(
                        reply, user_id=ctx.user_id, attachment_limit=ctx.attachment_limit)
                    await self.api.edit_original(ctx.token, msg.payload, msg.files)
                    return
                except (LookupError, ValueError, DiscordError) as exc:
                    if isinstance(exc, InteractionExpired):
                        raise
                    log.error("could not deliver images to Discord: %s", exc)
                    reply = Reply(ReplyKind.ERROR, "Sorry, your image was made but could not "
                                                   "be sent. Please try again.")
            await self._private(ctx, reply.text or "Done.")
        except InteractionExpired as exc:
            log.error("gave up on a Discord interaction: %s", exc)
        except DiscordError as exc:
            log.error("could not answer a Discord interaction: %s", exc)

    async def _private(self, ctx: InteractionCtx, text: str) -> None:
        if ctx.private:
            await self.api.edit_original(ctx.token, text_payload(text))
            return
        # A follow-up sent while the deferred message still shows "thinking…" would
        # replace that PUBLIC message (Discord ignores the ephemeral flag then): resolve
        # the placeholder first, then answer privately, then remove the placeholder.
        await self.api.edit_original(ctx.token, text_payload(PRIVATE_NOTE))
        await self.api.create_followup(ctx.token, text_payload(text, ephemeral=True))
        try:
            await self.api.delete_original(ctx.token)
        except DiscordError as exc:
            log.info("could not delete the placeholder: %s", exc)


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
