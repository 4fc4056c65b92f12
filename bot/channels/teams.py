"""Teams (Bot Framework) channel: activities -> Turn -> Assistant -> activities.

The request is acknowledged at once (typing + a short "working" message); the image is
delivered later as a proactive message through `continue_conversation`, because Teams
abandons a request after 15 s and image generation can take longer.
"""

from __future__ import annotations

import asyncio
import logging
import re

import aiohttp
from botbuilder.core import ActivityHandler, BotAdapter, TurnContext
from botbuilder.schema import Activity, ActivityTypes, ConversationReference

from bot.assistant import Assistant
from bot.channels.attachments import AttachmentError, AttachmentLimits, fetch_image
from bot.channels.teams_render import TeamsRenderer
from bot.tasks import BackgroundTasks
from bot.turn import Reply, ReplyKind, Response, Turn

log = logging.getLogger(__name__)

_AT_RE = re.compile(r"<at[^>]*>.*?</at>", re.I | re.S)
_DELIVERY_ATTEMPTS = 3


def strip_mentions(activity: Activity) -> str:
    """Remove the bot's own @mention; keep other people's names as plain text."""
    text = activity.text or ""
    bot_id = activity.recipient.id if activity.recipient else None
    for entity in activity.entities or []:
        if (entity.type or "").lower() != "mention":
            continue
        props = entity.additional_properties or {}
        mentioned = props.get("mentioned") or {}
        mention_text = props.get("text") or ""
        if mention_text and mentioned.get("id") == bot_id:
            text = text.replace(mention_text, " ")
    # Other <at>Name</at> tags (or a bot mention without entities) lose only the markup.
    text = _AT_RE.sub(lambda m: re.sub(r"<[^>]+>", "", m.group(0)), text)
    return " ".join(text.split())


def _tenant(activity: Activity) -> str | None:
    """Teams puts the tenant in channelData.tenant.id (conversation.tenantId is optional)."""
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    tenant = (data.get("tenant") or {}).get("id") if isinstance(data.get("tenant"), dict) else None
    return tenant or activity.conversation.tenant_id or None


def _replied_generation(activity: Activity) -> str | None:
    """A card button or message-back submit can name the generation it belongs to."""
    value = activity.value if isinstance(activity.value, dict) else None
    ref = value.get("generation_id") if value else None
    return ref if isinstance(ref, str) and 0 < len(ref) <= 64 else None


class TeamsBot(ActivityHandler):
    def __init__(self, assistant: Assistant, adapter: BotAdapter, renderer: TeamsRenderer,
                 tasks: BackgroundTasks, app_id: str) -> None:
        self.assistant = assistant
        self.adapter = adapter
        self.renderer = renderer
        self.tasks = tasks
        self.app_id = app_id
        self.attachment_limits = AttachmentLimits()
        self._http: aiohttp.ClientSession | None = None

    async def _attachments(self, turn_context: TurnContext) -> tuple[bytes, ...]:
        activity = turn_context.activity
        wanted = [a for a in activity.attachments or []
                  if (a.content_type or "").lower().startswith("image/") and a.content_url]
        others = [a for a in activity.attachments or []
                  if (a.content_type or "") == "application/vnd.microsoft.teams.file.download.info"]
        if not wanted and others:
            raise AttachmentError("I can't open files shared from OneDrive or SharePoint; "
                                  "paste the picture into the message instead.")
        if not wanted:
            return ()
        if self._http is None:
            self._http = aiohttp.ClientSession()
        token = await self._connector_token(turn_context)
        data = await fetch_image(wanted[0].content_url, service_url=activity.service_url,
                                 session=self._http, token=token, limits=self.attachment_limits)
        return (data,)

    async def _connector_token(self, turn_context: TurnContext) -> str | None:
        """Teams serves pasted images only to the bot, with its Bot Framework token."""
        client = turn_context.turn_state.get(self.adapter.BOT_CONNECTOR_CLIENT_KEY)
        creds = getattr(getattr(client, "config", None), "credentials", None)
        if creds is None or not self.app_id or not hasattr(creds, "get_access_token"):
            return None
        try:
            return await asyncio.to_thread(creds.get_access_token)
        except Exception as exc:
            log.warning("could not get a token to download an attachment: %s", exc)
            return None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        conv = activity.conversation
        try:
            attachments = await self._attachments(turn_context)
        except AttachmentError as exc:
            await turn_context.send_activity(str(exc))
            return
        turn = Turn(
            channel="teams",
            conversation_id=conv.id,
            user_id=activity.from_property.id if activity.from_property else "unknown",
            user_name=activity.from_property.name if activity.from_property else None,
            text=strip_mentions(activity),
            is_group=bool(conv.is_group) or conv.conversation_type in ("channel", "groupChat"),
            tenant_id=_tenant(activity),
            attachments=attachments,
            reference=_replied_generation(activity),
        )
        response = await self.assistant.respond(turn)
        outgoing = []
        if response.typing:
            outgoing.append(Activity(type=ActivityTypes.typing))
        if response.immediate is not None:
            outgoing.append(await self.renderer.render(response.immediate))
        if outgoing:
            await turn_context.send_activities(outgoing)
        if response.followup is not None:
            reference = TurnContext.get_conversation_reference(activity)
            self.tasks.spawn(self._deliver(reference, response),
                             name=f"teams-deliver-{conv.id[:24]}")

    async def _deliver(self, reference: ConversationReference, response: Response) -> None:
        assert response.followup is not None
        try:
            reply = await response.followup(None)
        except Exception:
            log.exception("image turn failed")
            reply = Reply(ReplyKind.ERROR, "Sorry, something went wrong while making your "
                                           "image. Please try again.")
        try:
            activity = await self.renderer.render(reply)
        except Exception:
            log.exception("rendering the reply failed")
            activity = await self.renderer.render(Reply(
                ReplyKind.ERROR, "Sorry, your image was made but could not be sent. Please try again."))

        errors: list[Exception] = []

        async def send(ctx: TurnContext) -> None:
            # Catch here: the adapter's on_turn_error would otherwise swallow the failure
            # (and post a generic apology) instead of letting us retry the delivery.
            try:
                await ctx.send_activity(activity)
            except Exception as exc:
                errors.append(exc)

        for attempt in range(1, _DELIVERY_ATTEMPTS + 1):
            errors.clear()
            try:
                await self.adapter.continue_conversation(reference, send, self.app_id)
                if errors:
                    raise errors[0]
                return
            except Exception as exc:
                if attempt == _DELIVERY_ATTEMPTS:
                    log.error("giving up delivering to %s: %s", reference.conversation.id, exc)
                    return
                log.warning("delivery to %s failed (%s), retrying", reference.conversation.id, exc)
                await asyncio.sleep(0.5 * 2 ** attempt)
