"""The turn pipeline, channel-neutral: Turn in, Response out.

No botbuilder or Discord imports here: channels adapt their wire formats to `Turn` and
render `Reply`. Image work is returned as a `followup` so channels can acknowledge at
once and deliver the image when it is ready.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot import commands
from bot.turn import ProgressSink, Reply, ReplyKind, Response, Turn
from imaging.engine import GenerationError
from tools.base import ToolContext, ToolError, ToolRegistry

log = logging.getLogger(__name__)

HELP_TEXT = (
    "I'm easel, I make images from your words.\n\n"
    "- `/imagine a lighthouse at dusk, watercolour` makes an image\n"
    "- options go before the prompt: `/imagine --n 2 --size 768x512 --seed 7 a red fox`\n"
    "- `/imagine --raw …` sends your words to the model exactly as written\n"
    "- `/help` shows this message"
)


@dataclass(frozen=True, slots=True)
class AssistantConfig:
    max_images: int = 4


class Assistant:
    def __init__(self, tools: ToolRegistry, config: AssistantConfig | None = None) -> None:
        self.tools = tools
        self.config = config or AssistantConfig()

    async def respond(self, turn: Turn) -> Response:
        cmd = commands.parse(turn.text)
        if cmd.name == "help":
            return Response(Reply(ReplyKind.TEXT, HELP_TEXT))
        if cmd.name == "unknown":
            return Response(Reply(
                ReplyKind.TEXT,
                f"I don't know the command /{cmd.text}. Try `/imagine <what to draw>` or `/help`.",
            ))
        if cmd.name == "chat":
            if not cmd.text:
                return Response(Reply(ReplyKind.TEXT, "Say `/imagine <what to draw>` and I'll "
                                                      "make an image. `/help` lists what I can do."))
            return Response(Reply(
                ReplyKind.TEXT,
                "I make images. Try `/imagine " + _shorten(cmd.text, 60) + "` — or `/help` "
                "for the options.",
            ))
        # imagine
        if cmd.error:
            return Response(Reply(ReplyKind.ERROR, cmd.error + ". " + _IMAGINE_USAGE))
        if not cmd.text:
            return Response(Reply(ReplyKind.TEXT, "What should I draw? " + _IMAGINE_USAGE))
        args: dict[str, object] = {"prompt": cmd.text}
        if "n" in cmd.options:
            args["n"] = int(cmd.options["n"])
        if "size" in cmd.options:
            args["size"] = cmd.options["size"].lower()
        if "seed" in cmd.options:
            args["seed"] = int(cmd.options["seed"])
        try:
            parsed = self.tools.parse_args("generate_image", args)
        except ToolError as exc:
            return Response(Reply(ReplyKind.ERROR, _friendly_args_error(str(exc))))
        user_prompt = cmd.text

        async def followup(progress: ProgressSink | None) -> Reply:
            ctx = ToolContext(turn.conversation_id, turn.user_id, progress)
            try:
                result = await self.tools.get("generate_image").run(parsed, ctx)
            except ToolError as exc:
                return Reply(ReplyKind.ERROR, str(exc))
            except GenerationError as exc:
                log.warning("generation failed for %s: %s", turn.conversation_id, exc)
                return Reply(ReplyKind.ERROR, f"Sorry, I couldn't make that image: {exc}. "
                                              "Please try again in a moment.")
            if not result.images:
                return Reply(ReplyKind.ERROR, "Sorry, no image could be delivered. Please try "
                                              "again or rephrase.", withheld=result.withheld)
            return Reply(ReplyKind.IMAGES, "", images=result.images, prompt=result.prompt,
                         user_prompt=user_prompt, steps=result.steps, withheld=result.withheld)

        return Response(
            Reply(ReplyKind.TEXT, f"🎨 Working on “{_shorten(user_prompt, 80)}”…"),
            followup=followup,
            typing=True,
        )


_IMAGINE_USAGE = "Try `/imagine a red apple on a wooden table`."


def _friendly_args_error(msg: str) -> str:
    return f"I couldn't use those options: {msg.removeprefix('bad arguments for generate_image: ')}."


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
