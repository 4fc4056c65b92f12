"""The turn pipeline, channel-neutral: Turn in, Response out.

No botbuilder or Discord imports here: channels adapt their wire formats to `Turn` and
render `Reply`. Image work is returned as a `followup` so channels can acknowledge at
once and deliver the image when it is ready.

Flow: commands are parsed; everything that is not a command (and `/imagine` unless it
is raw) goes through the brain, which answers in words or calls `generate_image` with a
rewritten prompt; the image tool runs the job; the generation is recorded so follow-ups
("now make it at night") can build on it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from bot import commands
from bot.llm.base import Brain, BrainRequest, Decision
from bot.settings import parse_size
from bot.state import (
    ConversationRecord,
    ConversationStore,
    Generation,
    MemoryConversationStore,
    record_key,
)
from bot.turn import ProgressSink, Reply, ReplyKind, Response, Turn
from imaging.engine import GenerationError
from tools.base import ToolContext, ToolError, ToolRegistry
from tools.image_args import GenerateImageArgs

log = logging.getLogger(__name__)

HELP_TEXT = (
    "I'm easel, I make images from your words.\n\n"
    "- describe a picture in plain words: \"draw a fox in the snow\", then refine it: "
    "\"now make it at night\", \"add a red hat\", \"without the trees\"\n"
    "- `/imagine a lighthouse at dusk, watercolour` makes an image; I write a detailed "
    "prompt from your words and show it under the image\n"
    "- options go before the prompt: `/imagine --n 2 --size 768x512 --seed 7 a red fox`\n"
    "- `/imagine --raw …` sends your words to the model exactly as written\n"
    "- `/settings` shows this conversation's defaults; `/settings raw=on n=2 size=768x512 "
    "steps=8` changes them (`reset` restores them)\n"
    "- `/help` shows this message"
)
_IMAGINE_USAGE = "Try `/imagine a red apple on a wooden table`."
GENERATE = "generate_image"


@dataclass(frozen=True, slots=True)
class AssistantConfig:
    max_images: int = 4
    max_side: int = 1536
    max_steps: int = 50
    max_prompt_tokens: int = 77  # CLIP's limit for SD-family models
    history_turns: int = 6


class Assistant:
    def __init__(self, tools: ToolRegistry, brain: Brain, *,
                 store: ConversationStore | None = None,
                 config: AssistantConfig | None = None) -> None:
        self.tools = tools
        self.brain = brain
        self.store = store or MemoryConversationStore()
        self.config = config or AssistantConfig()
        # The rules brain answers in microseconds; LLM brains may take seconds, so their
        # decisions happen after the channel has acknowledged the message.
        self._decide_inline = getattr(brain, "name", "") == "rules"

    # ---- entry point -------------------------------------------------------------
    async def respond(self, turn: Turn) -> Response:
        cmd = commands.parse(turn.text)
        if cmd.name == "help":
            return Response(Reply(ReplyKind.TEXT, HELP_TEXT))
        if cmd.name == "unknown":
            return Response(Reply(
                ReplyKind.TEXT,
                f"I don't know the command /{cmd.text}. Try `/imagine <what to draw>`, or "
                "describe a picture in plain words. `/help` lists everything.",
            ))
        key = record_key(turn)
        if cmd.name == "settings":
            return Response(await self._settings(key, cmd.text))
        record = await self.store.load(key)
        if cmd.name == "chat":
            if not cmd.text:
                return Response(Reply(ReplyKind.TEXT, "Describe a picture and I'll draw it, or "
                                                      "type `/help`."))
            req = self._brain_request(cmd.text, record, force=False)
            if not self._decide_inline:
                return Response(None, followup=self._deferred(turn, key, req), typing=True)
            decision = await self.brain.decide(req)
            return self._act(turn, key, record, decision, user_text=cmd.text)
        # /imagine
        if cmd.error:
            return Response(Reply(ReplyKind.ERROR, cmd.error + ". " + _IMAGINE_USAGE))
        if not cmd.text:
            return Response(Reply(ReplyKind.TEXT, "What should I draw? " + _IMAGINE_USAGE))
        overrides, error = self._options(cmd.options)
        if error:
            return Response(Reply(ReplyKind.ERROR, error))
        raw = cmd.raw or record.settings.raw
        if raw:
            decision = Decision(tool=GENERATE, args={"prompt": cmd.text}, backend="raw")
            return self._act(turn, key, record, decision, user_text=cmd.text,
                             overrides=overrides, raw=True)
        req = self._brain_request(cmd.text, record, force=True)
        if not self._decide_inline:
            return Response(
                self._working(cmd.text),
                followup=self._deferred(turn, key, req, overrides=overrides), typing=True)
        decision = await self.brain.decide(req)
        return self._act(turn, key, record, decision, user_text=cmd.text, overrides=overrides)

    # ---- brain -------------------------------------------------------------------
    def _brain_request(self, text: str, record: ConversationRecord, *, force: bool) -> BrainRequest:
        return BrainRequest(
            text=text,
            history=record.history(self.config.history_turns),
            tools=self.tools.specs(),
            force_tool=GENERATE if force else None,
            max_prompt_tokens=self.config.max_prompt_tokens,
        )

    def _deferred(self, turn: Turn, key: str, req: BrainRequest,
                  overrides: dict[str, Any] | None = None):
        """A followup that asks a (slow) brain first, then acts on its decision."""

        async def followup(progress: ProgressSink | None) -> Reply:
            decision = await self.brain.decide(req)
            record = await self.store.load(key)
            response = self._act(turn, key, record, decision, user_text=req.text,
                                 overrides=overrides)
            if response.followup is None:
                assert response.immediate is not None
                return response.immediate
            return await response.followup(progress)

        return followup

    def _act(self, turn: Turn, key: str, record: ConversationRecord, decision: Decision, *,
             user_text: str, overrides: dict[str, Any] | None = None,
             raw: bool = False) -> Response:
        if decision.tool is None:
            return Response(Reply(ReplyKind.TEXT, decision.answer or HELP_TEXT))
        if decision.tool != GENERATE:
            log.warning("brain asked for unknown tool %r", decision.tool)
            return Response(Reply(ReplyKind.ERROR, "Sorry, I can't do that yet. " + _IMAGINE_USAGE))
        args = dict(decision.args)
        settings = record.settings
        # Conversation defaults fill what the brain left open; explicit options win.
        if settings.n and "n" not in decision.args:
            args["n"] = settings.n
        if settings.size and not args.get("size"):
            args["size"] = settings.size
        args.update(overrides or {})
        try:
            parsed = self.tools.parse_args(GENERATE, args)
        except ToolError as exc:
            return Response(Reply(ReplyKind.ERROR, _friendly_args_error(str(exc))))
        assert isinstance(parsed, GenerateImageArgs)
        steps = settings.steps

        async def followup(progress: ProgressSink | None) -> Reply:
            return await self._generate(turn, key, parsed, user_text=user_text, raw=raw,
                                        steps=steps, progress=progress)

        return Response(self._working(user_text), followup=followup, typing=True)

    # ---- image generation ----------------------------------------------------------
    async def _generate(self, turn: Turn, key: str, args: GenerateImageArgs, *, user_text: str,
                        raw: bool, steps: int | None, progress: ProgressSink | None) -> Reply:
        ctx = ToolContext(turn.conversation_id, turn.user_id, progress, steps=steps)
        try:
            result = await self.tools.get(GENERATE).run(args, ctx)
        except ToolError as exc:
            return Reply(ReplyKind.ERROR, str(exc))
        except GenerationError as exc:
            log.warning("generation failed for %s: %s", turn.conversation_id, exc)
            return Reply(ReplyKind.ERROR, f"Sorry, I couldn't make that image: {exc}. "
                                          "Please try again in a moment.")
        if not result.images:
            return Reply(ReplyKind.ERROR, "Sorry, no image could be delivered. Please try "
                                          "again or rephrase.", withheld=result.withheld)
        gen = Generation(user_text=user_text, prompt=result.prompt or args.prompt,
                         seed=int(result.data.get("seed", result.images[0].seed)),
                         image_ids=[i.image_id for i in result.images],
                         size=str(result.data.get("size", "")), n=args.n, raw=raw)
        await self.store.update(key, lambda rec: rec.add(gen))
        return Reply(ReplyKind.IMAGES, "", images=result.images, prompt=result.prompt,
                     user_prompt=user_text, steps=result.steps, withheld=result.withheld)

    # ---- options and settings --------------------------------------------------------
    def _options(self, options: dict[str, str]) -> tuple[dict[str, Any], str | None]:
        out: dict[str, Any] = {}
        if "n" in options:
            n = int(options["n"])
            if not 1 <= n <= self.config.max_images:
                return {}, f"--n must be between 1 and {self.config.max_images}."
            out["n"] = n
        if "size" in options:
            try:
                w, h = parse_size(options["size"], self.config.max_side)
            except ValueError as exc:
                return {}, f"--size: {exc}."
            out["size"] = f"{w}x{h}"
        if "seed" in options:
            out["seed"] = int(options["seed"])
        return out, None

    async def _settings(self, key: str, text: str) -> Reply:
        words = text.split()
        if not words:
            rec = await self.store.load(key)
            return Reply(ReplyKind.TEXT, _describe_settings(rec))
        changes: dict[str, Any] = {}
        for word in words:
            if word.lower() == "reset":
                changes = {"raw": False, "n": None, "size": None, "steps": None}
                continue
            name, sep, value = word.partition("=")
            name, value = name.lower(), value.strip().lower()
            if not sep or not value:
                return Reply(ReplyKind.ERROR, f"`{word}`: settings look like `name=value`, "
                                              "e.g. `/settings raw=on n=2 size=768x512`.")
            if name == "raw":
                if value not in ("on", "off", "true", "false", "yes", "no", "1", "0"):
                    return Reply(ReplyKind.ERROR, "raw must be on or off.")
                changes["raw"] = value in ("on", "true", "yes", "1")
            elif name == "n":
                if not value.isdigit() or not 1 <= int(value) <= self.config.max_images:
                    return Reply(ReplyKind.ERROR,
                                 f"n must be a number from 1 to {self.config.max_images}.")
                changes["n"] = int(value)
            elif name == "size":
                try:
                    w, h = parse_size(value, self.config.max_side)
                except ValueError as exc:
                    return Reply(ReplyKind.ERROR, f"size: {exc}.")
                changes["size"] = f"{w}x{h}"
            elif name == "steps":
                if not value.isdigit() or not 1 <= int(value) <= self.config.max_steps:
                    return Reply(ReplyKind.ERROR,
                                 f"steps must be a number from 1 to {self.config.max_steps}.")
                changes["steps"] = int(value)
            else:
                return Reply(ReplyKind.ERROR, f"I don't know the setting `{name}`. "
                                              "Settings: raw, n, size, steps.")

        def apply(rec: ConversationRecord) -> None:
            for name, value in changes.items():
                setattr(rec.settings, name, value)

        rec = await self.store.update(key, apply)
        return Reply(ReplyKind.TEXT, "Saved. " + _describe_settings(rec))

    @staticmethod
    def _working(user_text: str) -> Reply:
        return Reply(ReplyKind.TEXT, f"🎨 Working on “{_shorten(user_text, 80)}”…")


def _describe_settings(rec: ConversationRecord) -> str:
    s = rec.settings
    return ("Settings for this conversation: "
            f"raw={'on' if s.raw else 'off'}, n={s.n or 1}, size={s.size or 'model default'}, "
            f"steps={s.steps or 'model default'}.")


def _friendly_args_error(msg: str) -> str:
    return f"I couldn't use those options: {msg.removeprefix('bad arguments for generate_image: ')}."


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
