"""Proactive delivery of a Teams image turn's result, after the request was acknowledged.

Holds the background half of `TeamsBot`: running the Assistant's follow-up, editing the
"working" message with progress, then replacing it with the result (or sending a new
message when the client cannot edit), retrying a flaky Bot Connector.
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
from collections.abc import Awaitable, Callable

from botbuilder.core import BotAdapter, TurnContext
from botbuilder.schema import Activity, ActivityTypes, ConversationReference
from PIL import Image

from bot.channels import teams_cards as cards
from bot.channels.progress import ProgressEditor
from bot.channels.teams_render import TeamsRenderer
from bot.turn import Claims, Reply, ReplyKind, Response
from imaging.jobs import JobEvent, JobQueued

log = logging.getLogger(__name__)

_DELIVERY_ATTEMPTS = 3
_PROGRESS_EVERY_S = 1.0

Logic = Callable[[TurnContext], Awaitable[None]]


class ProactiveDelivery:
    """Sends results into a conversation through `continue_conversation`."""

    def __init__(self, adapter: BotAdapter, renderer: TeamsRenderer, app_id: str, *,
                 claims: Claims | None = None) -> None:
        self.adapter = adapter
        self.renderer = renderer
        self.app_id = app_id
        self.claims = claims  # set when several processes may finish the same job

    async def redeliver(self, delivery: dict, reply: Reply) -> None:
        """A job finished by another process than the one that took the turn (its bot
        restarted): the stored reference and working message, the same rendering. The
        caller has claimed the job."""
        reference = ConversationReference().deserialize(delivery["reference"])
        await self._post(reference, reply, delivery.get("working_id"))

    async def deliver(self, reference: ConversationReference, response: Response,
                      working_id: str | None) -> None:
        assert response.followup is not None
        working = response.immediate.text if response.immediate else "🎨 Working on it…"
        progress = _ProgressUpdater(self, reference, working_id, working) if working_id \
            else None
        try:
            reply = await response.followup(progress)
        except Exception:
            log.exception("image turn failed")
            reply = Reply(ReplyKind.ERROR, "Sorry, something went wrong while making your "
                                           "image. Please try again.")
        if progress is not None:
            await progress.finish()
        if reply.job_id and self.claims is not None and not await self.claims.claim(reply.job_id):
            log.info("job %s was already delivered by another process", reply.job_id)
            return
        await self._post(reference, reply, working_id)

    async def _post(self, reference: ConversationReference, reply: Reply,
                    working_id: str | None) -> None:
        try:
            activity = await self.renderer.render(reply)
        except Exception:
            log.exception("rendering the reply failed")
            activity = await self.renderer.render(Reply(
                ReplyKind.ERROR, "Sorry, your image was made but could not be sent. Please try again."))
        if working_id and await self.update(reference, working_id, activity):
            return
        await self.send(reference, activity)

    async def update(self, reference: ConversationReference, activity_id: str,
                     activity: Activity) -> bool:
        """Replace the "working" message; False when the channel refuses (send instead)."""
        async def update(ctx: TurnContext) -> None:
            activity.id = activity_id
            await ctx.update_activity(activity)

        try:
            return await self._proactive(reference, update)
        except Exception as exc:
            log.info("could not update the working message (%s); sending a new one", exc)
            activity.id = None
            return False

    async def send(self, reference: ConversationReference, activity: Activity) -> None:
        async def send(ctx: TurnContext) -> None:
            await ctx.send_activity(activity)

        for attempt in range(1, _DELIVERY_ATTEMPTS + 1):
            try:
                await self._proactive(reference, send)
                return
            except Exception as exc:
                if attempt == _DELIVERY_ATTEMPTS:
                    log.error("giving up delivering to %s: %s", reference.conversation.id, exc)
                    return
                log.warning("delivery to %s failed (%s), retrying", reference.conversation.id, exc)
                await asyncio.sleep(0.5 * 2 ** attempt)

    async def _proactive(self, reference: ConversationReference, logic: Logic) -> bool:
        errors: list[Exception] = []

        async def run(ctx: TurnContext) -> None:
            # Catch here: the adapter's on_turn_error would otherwise swallow the failure
            # (and post a generic apology) instead of letting us retry or fall back.
            try:
                await logic(ctx)
            except Exception as exc:
                errors.append(exc)

        await self.adapter.continue_conversation(reference, run, self.app_id)
        if errors:
            raise errors[0]
        return True


class _ProgressUpdater:
    """Edits the "working" message into a card with the place in line or the progress,
    the newest preview and a Cancel button: at most once a second, newest view wins."""

    def __init__(self, delivery: ProactiveDelivery, reference: ConversationReference,
                 activity_id: str, working: str) -> None:
        self.delivery = delivery
        self.reference = reference
        self.activity_id = activity_id
        self.working = working
        self._preview: str | None = None  # kept across updates without a new one
        self._editor = ProgressEditor(self._show, min_interval_s=_PROGRESS_EVERY_S,
                                      name="teams-progress")

    async def __call__(self, event: JobEvent) -> None:
        if isinstance(event, JobQueued):
            status = f"#{event.position} in line · about {round(event.eta_s)} s"
            card = cards.working_card(self.working, status, job_id=event.job)
        else:
            if event.step >= event.total:
                return  # the result is about to replace it
            if event.preview is not None:
                self._preview = await asyncio.to_thread(_jpeg_uri, event.preview)
            card = cards.working_card(self.working, f"Drawing… {event.step}/{event.total}",
                                      job_id=event.job, preview_url=self._preview,
                                      step=event.step, total=event.total)
        self._editor.update(card)

    async def _show(self, card: dict) -> None:
        activity = Activity(type=ActivityTypes.message, attachments=[cards.attachment(card)])
        await self.delivery.update(self.reference, self.activity_id, activity)

    async def finish(self) -> None:
        """No progress edit may land after the result."""
        await self._editor.close()


def _jpeg_uri(image: Image.Image) -> str:
    """Small and lossy on purpose: Teams caps a message near 28 KB, card included."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
