"""`/describe`: a picture → four prompts that would draw something like it.

The picture is the one attached (kept like any upload, so it becomes the conversation's
current picture), else the one the turn points at or the conversation's current one
(`/describe 2`: image 2 of it). The describe_image tool (tools/describe.py) answers the
prompts after the ack; they are text shown to the user, so each passes checkpoint 2 and a
refused one is dropped. The reply lists them as `/imagine …` lines to copy (the web chat
turns each into a Draw button).
"""

from __future__ import annotations

from bot.pipeline import replies
from bot.pipeline.commands import Command
from bot.pipeline.scope import Scope
from bot.pipeline.studio import pick
from bot.pipeline.uploads import Uploads
from bot.turn import ProgressSink, Reply, Response
from safety.gate import Gate
from tools.base import ToolContext, ToolError, ToolRegistry
from tools.describe import DESCRIBE_IMAGE_SPEC, allowed_prompts

DESCRIBE_USAGE = ("Attach a picture and type `/describe` (or say \"describe this\"), and I'll "
                  "suggest four prompts that would draw something like it. Without an "
                  "attachment `/describe` looks at the last picture here.")
NOT_AVAILABLE = "Describing pictures is not available in this deployment."
ALL_REFUSED = ("I looked at the picture, but I can't suggest prompts for it: the ones I "
               "came up with are not something I can offer.")


class DescribeTurns:
    def __init__(self, tools: ToolRegistry, gate: Gate, uploads: Uploads) -> None:
        self.tools = tools
        self.gate = gate
        self.uploads = uploads

    async def describe(self, scope: Scope, cmd: Command) -> Response:
        try:
            self.tools.get(DESCRIBE_IMAGE_SPEC.name)
        except ToolError:
            return Response(replies.text(NOT_AVAILABLE))
        if scope.turn.attachments:
            kept = await self.uploads.keep(scope, scope.turn.text or "/describe")
            if isinstance(kept, Reply):
                return Response(kept)
            image_id = kept.image_ids[0]
        else:
            record = await self.uploads.store.load(scope.key)
            if record.current is None and not scope.turn.reference:
                return Response(replies.text(DESCRIBE_USAGE))
            index = int(cmd.options["index"]) if "index" in cmd.options else None
            target = pick(record, scope.turn.reference, index)
            if isinstance(target, str):
                return Response(replies.text(target))
            image_id = target.image_id

        async def followup(progress: ProgressSink | None) -> Reply:
            return await self._prompts(scope, image_id)

        return Response(replies.text("🔎 Looking at your picture…"), followup=followup)

    async def _prompts(self, scope: Scope, image_id: str) -> Reply:
        ctx = ToolContext(scope.turn.conversation_id, scope.turn.user_id,
                          tenant_id=scope.turn.tenant_id)
        try:
            result = await self.tools.call(DESCRIBE_IMAGE_SPEC.name, {"image_id": image_id}, ctx)
        except ToolError as exc:
            return replies.error(str(exc)[:1].upper() + str(exc)[1:] + ".")
        prompts = await allowed_prompts(self.gate, list(result.data.get("prompts", [])),
                                        scope.turn.user_id, scope.strictness)
        if not prompts:
            return replies.text(ALL_REFUSED)
        return replies.text(prompts_text(prompts))


def prompts_text(prompts: list[str]) -> str:
    """The reply: one numbered `/imagine …` line per prompt, ready to copy."""
    lines = [f"{i}. `/imagine {p.replace('`', '')}`" for i, p in enumerate(prompts, 1)]
    return "Prompts that would draw something like it (copy one, or edit it first):\n" + \
        "\n".join(lines)
