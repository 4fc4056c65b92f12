"""Proactive delivery of a Teams image turn's result, after the request was acknowledged.

Holds the background half of `TeamsBot`: running the Assistant's follow-up, editing the
"working" message with progress, then replacing it with the result (or sending a new
message when the client cannot edit), retrying a flaky Bot Connector.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from botbuilder.core import BotAdapter, TurnContext
from botbuilder.schema import Activity, ActivityTypes, ConversationReference

from bot.channels.teams_render import TeamsRenderer
from bot.turn import Reply, ReplyKind, Response

log = logging.getLogger(__name__)

_DELIVERY_ATTEMPTS = 3
_PROGRESS_EVERY_S = 1.0

Logic = Callable[[TurnContext], Awaitable[None]]


class ProactiveDelivery:
    """Sends results into a conversation through `continue_conversation`."""

    def __init__(self, adapter: BotAdapter, renderer: TeamsRenderer, app_id: str) -> None:
        self.adapter = adapter
        self.renderer = renderer
        self.app_id = app_id

    async def deliver(self, reference: ConversationReference, response: Response,
                      working_id: str | None) -> None:
        assert response.followup is not None
        progress = _ProgressUpdater(self, reference, working_id) if working_id else None
        try:
            reply = await response.followup(progress)
        except Exception:
            log.exception("image turn failed")
            reply = Reply(ReplyKind.ERROR, "Sorry, something went wrong while making your "
                                           "image. Please try again.")
        if progress is not None:
            await progress.finish()
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
    """Edits the "working" message with the step count, at most once a second."""

    def __init__(self, delivery: ProactiveDelivery, reference: ConversationReference,
                 activity_id: str) -> None:
        self.delivery = delivery
        self.reference = reference
        self.activity_id = activity_id
        self._last = 0.0
        self._pending: asyncio.Task[bool] | None = None
        self._done = False

    async def __call__(self, step: int, total: int) -> None:
        now = time.monotonic()
        if self._done or now - self._last < _PROGRESS_EVERY_S or step >= total:
            return
        if self._pending is not None and not self._pending.done():
            return  # the previous edit is still on its way
        self._last = now
        bar = "▰" * step + "▱" * (total - step)
        activity = Activity(type=ActivityTypes.message, text=f"🎨 Working… {bar} {step}/{total}")
        self._pending = asyncio.ensure_future(
            self.delivery.update(self.reference, self.activity_id, activity))

    async def finish(self) -> None:
        """No progress edit may land after the result."""
        self._done = True
        if self._pending is not None:
            await asyncio.gather(self._pending, return_exceptions=True)
