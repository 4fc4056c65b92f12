"""Teams (Bot Framework) channel: activities -> Turn -> Assistant -> activities.

The request is acknowledged at once (typing + a short "working" message); the result is
delivered later through `continue_conversation`, because Teams abandons a request after
15 s and image generation can take longer. The "working" message is then updated in
place (progress, then the result card) instead of piling up messages.

Card buttons arrive as `adaptiveCard/action` invokes (Action.Execute) or as message-back
submits (Action.Submit fallback); both become the same text commands a user could type.
The proactive, background half (progress, result, retries) lives in `teams_delivery`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import aiohttp
from botbuilder.core import ActivityHandler, BotAdapter, InvokeResponse, TurnContext
from botbuilder.schema import Activity, ActivityTypes, ChannelAccount

from bot.channels.attachments import AttachmentError, AttachmentLimits, fetch_image
from bot.channels.teams_canvas import CANVAS_VERBS, canvas_command
from bot.channels.teams_cards import VERBS
from bot.channels.teams_compose import ComposeExtension
from bot.channels.teams_delivery import ProactiveDelivery
from bot.channels.teams_render import TeamsRenderer
from bot.pipeline import replies
from bot.pipeline.assistant import Assistant
from bot.tasks import BackgroundTasks
from bot.turn import Claims, Turn

log = logging.getLogger(__name__)

# Bounded, so that text full of unclosed "<at" costs linear time, not quadratic.
_AT_RE = re.compile(r"<at[^>]{0,300}>.{0,300}?</at>", re.I | re.S)
# Past this, a message is refused before its markup is even read (Teams' own limit is
# about 28 KB; the words easel reads are capped at MAX_TEXT_CHARS after that).
MAX_MARKUP_CHARS = 32 * 1024
WELCOME = (
    "Hi, I'm easel — I make pictures from your words. Try:\n\n"
    "- `draw a fox in a snowy forest, watercolour`\n"
    "- then `make it at night` or `add a red scarf`\n"
    "- `/imagine --n 4 a cosy reading nook` for four at once\n\n"
    "Type `/help` for everything I can do."
)


def strip_mentions(activity: Activity) -> str:
    """Remove the bot's own @mention; keep other people's names as plain text."""
    text = activity.text or ""
    bot_id = activity.recipient.id if activity.recipient else None
    for entity in activity.entities or []:
        if entity is None or (entity.type or "").lower() != "mention":
            continue
        props = entity.additional_properties or {}
        mentioned, mention_text = props.get("mentioned"), props.get("text")
        if isinstance(mentioned, dict) and isinstance(mention_text, str) and mention_text \
                and mentioned.get("id") == bot_id:
            text = text.replace(mention_text, " ")
    # Other <at>Name</at> tags (or a bot mention without entities) lose only the markup.
    text = _AT_RE.sub(lambda m: re.sub(r"<[^>]+>", "", m.group(0)), text)
    return " ".join(text.split())


def _tenant(activity: Activity) -> str | None:
    """Teams puts the tenant in channelData.tenant.id (conversation.tenantId is optional)."""
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    tenant = data.get("tenant")
    tid = tenant.get("id") if isinstance(tenant, dict) else None
    return tid if isinstance(tid, str) and tid else activity.conversation.tenant_id or None


def command_for(data: dict[str, Any]) -> tuple[str, str | None] | None:
    """A card button's data -> (the text command it stands for, the generation id)."""
    verb = data.get("easel") or data.get("verb")
    if verb not in VERBS:
        return None
    ref = data.get("generation_id")
    ref = ref if isinstance(ref, str) and 0 < len(ref) <= 64 else None
    if verb in CANVAS_VERBS:
        text = canvas_command(verb, data)
        return (text, ref) if text else None
    index = _index(data.get("index"))
    if index is None and data.get("index") not in (None, ""):
        return None  # "²", 5,000 digits, a list: no button of ours sends that
    n = f" {index}" if index else ""
    if verb == "edit":
        instruction = " ".join(str(data.get("instruction") or "").split())[:300]
        if not instruction:
            return None
        return f"/edit{n} {instruction}", ref
    if verb == "retry":
        return "/vary", ref
    if verb == "vote":
        choice = data.get("choice")
        return (f"/vote {choice}", ref) if choice in ("a", "b", "tie", "bad") else None
    if verb == "cancel":
        job = data.get("job")
        return (f"/cancel {job}" if isinstance(job, str) and 0 < len(job) <= 64
                else "/cancel"), None
    return f"/{verb}{n}", ref


def _index(value: object) -> int | None:
    """A button's image number, as sent (the command says when there is no such image);
    None for anything that is not a short run of ASCII digits ("²", 5,000 digits, 1.5)."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return int(value) if isinstance(value, str) and re.fullmatch(r"[0-9]{1,3}", value) \
        else None


class TeamsBot(ActivityHandler):
    def __init__(self, assistant: Assistant, adapter: BotAdapter, renderer: TeamsRenderer,
                 tasks: BackgroundTasks, app_id: str, *, compose: ComposeExtension,
                 claims: Claims | None = None) -> None:
        self.assistant = assistant
        self.adapter = adapter
        self.renderer = renderer
        self.tasks = tasks
        self.app_id = app_id
        self.compose = compose
        self.delivery = ProactiveDelivery(adapter, renderer, app_id, claims=claims)
        self.attachment_limits = AttachmentLimits()
        self._http: aiohttp.ClientSession | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()

    # ---- turns ----------------------------------------------------------------------
    def _turn(self, activity: Activity, text: str, *, reference: str | None = None,
              attachments: tuple[bytes, ...] = ()) -> Turn:
        conv = activity.conversation
        reference_data = TurnContext.get_conversation_reference(activity).serialize()
        return Turn(
            channel="teams",
            conversation_id=conv.id,
            user_id=activity.from_property.id if activity.from_property else "unknown",
            user_name=activity.from_property.name if activity.from_property else None,
            text=text,
            is_group=bool(conv.is_group) or conv.conversation_type in ("channel", "groupChat"),
            tenant_id=_tenant(activity),
            attachments=attachments,
            reference=reference,
            delivery={"channel": "teams", "reference": reference_data},
        )

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        activity = turn_context.activity
        reference = None
        if len(activity.text or "") > MAX_MARKUP_CHARS:
            await turn_context.send_activity(replies.TOO_LONG)
            return
        text = strip_mentions(activity)
        if isinstance(activity.value, dict) and (activity.value.get("easel") in VERBS):
            found = command_for(activity.value)  # a message-back from a card button
            if found is None:
                await turn_context.send_activity("Tell me what to change (for a region, tick "
                                                 "a square too), then press the button again.")
                return
            text, reference = found
        try:
            attachments = await self._attachments(turn_context)
        except AttachmentError as exc:
            await turn_context.send_activity(str(exc))
            return
        turn = self._turn(activity, text, reference=reference, attachments=attachments)
        await self._respond(turn_context, turn)

    async def _respond(self, turn_context: TurnContext, turn: Turn) -> None:
        response = await self.assistant.respond(turn)
        outgoing = []
        if response.typing:
            outgoing.append(Activity(type=ActivityTypes.typing))
        if response.immediate is not None:
            outgoing.append(await self.renderer.render(response.immediate))
        sent = await turn_context.send_activities(outgoing) if outgoing else []
        if response.followup is not None:
            working_id = None
            if response.immediate is not None and sent:
                working_id = getattr(sent[-1], "id", None)
            if turn.delivery is not None and working_id:
                turn.delivery["working_id"] = working_id  # a restarted bot edits it too
            reference = TurnContext.get_conversation_reference(turn_context.activity)
            self.tasks.spawn(self.delivery.deliver(reference, response, working_id),
                             name=f"teams-deliver-{turn.conversation_id[:24]}")

    async def on_members_added_activity(self, members_added: list[ChannelAccount],
                                        turn_context: TurnContext) -> None:
        bot_id = turn_context.activity.recipient.id if turn_context.activity.recipient else None
        if any(m is not None and m.id == bot_id for m in members_added):
            await turn_context.send_activity(
                Activity(type=ActivityTypes.message, text=WELCOME, text_format="markdown"))

    # ---- invokes ----------------------------------------------------------------------
    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        name = turn_context.activity.name or ""
        try:
            if name == "adaptiveCard/action":
                return await self._card_action(turn_context)
            if name == "composeExtension/fetchTask":
                return InvokeResponse(status=200, body=self.compose.fetch_task())
            if name == "composeExtension/submitAction":
                value: dict[str, Any] = turn_context.activity.value if isinstance(
                    turn_context.activity.value, dict) else {}
                data: dict[str, Any] = value["data"] if isinstance(value.get("data"), dict) \
                    else {}
                body = await self.compose.submit(self._turn(turn_context.activity, ""), data)
                return InvokeResponse(status=200, body=body)
            if name == "healthCheck":
                return InvokeResponse(status=200, body={"healthResponse": {"success": True}})
        except Exception:
            log.exception("invoke %s failed", name)
            return InvokeResponse(status=200, body=_card_error("Sorry, that didn't work. "
                                                               "Please try again."))
        log.info("unsupported invoke %r", name)
        return InvokeResponse(status=404, body={"error": f"easel does not handle {name!r}"})

    async def _card_action(self, turn_context: TurnContext) -> InvokeResponse:
        raw = turn_context.activity.value
        value: dict[str, Any] = raw if isinstance(raw, dict) else {}
        action: dict[str, Any] = value["action"] if isinstance(value.get("action"), dict) else {}
        data: dict[str, Any] = dict(action["data"]) if isinstance(action.get("data"), dict) \
            else {}
        data.setdefault("easel", action.get("verb"))
        found = command_for(data)
        if found is None:
            return InvokeResponse(status=200, body=_card_error(
                "I don't know that button, or it came without what it needs (the words of "
                "an edit, the squares of a region)."))
        text, reference = found
        await self._respond(turn_context, self._turn(turn_context.activity, text,
                                                     reference=reference))
        # The card the user pressed stays as it is; the answer arrives as new messages.
        return InvokeResponse(status=200, body={
            "statusCode": 200, "type": "application/vnd.microsoft.activity.message",
            "value": "On it…"})

    # ---- attachments ------------------------------------------------------------------
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


def _card_error(message: str) -> dict[str, Any]:
    return {"statusCode": 400, "type": "application/vnd.microsoft.error",
            "value": {"code": "BadRequest", "message": message}}
