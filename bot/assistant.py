"""The turn pipeline, channel-neutral: Turn in, Response out.

No botbuilder or Discord imports here: channels adapt their wire formats to `Turn` and
render `Reply`. Image work is returned as a `followup` so channels can acknowledge at
once and deliver the image when it is ready.

Flow: commands are parsed; everything that is not a command (and `/imagine` unless it
is raw) goes through the brain, which answers in words or calls `generate_image` with a
rewritten prompt. A decision that builds on the current picture (the brain reused its
seed: "make it darker", "add a hat") or that names a picture ("the second one, at
night") becomes an image-to-image edit of that picture, so it stays the same picture.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from bot import commands
from bot.llm.base import Brain, BrainRequest, Decision
from bot.picks import edit_strength, take_pick
from bot.settings import parse_size
from bot.state import (
    ConversationRecord,
    ConversationStore,
    StorageConversationStore,
    record_key,
    user_key,
)
from bot.storage import EtagMemoryStorage, StorageUnavailable
from bot.studio import VARY_STRENGTH, Studio, Target, pick
from bot.turn import ProgressSink, Reply, ReplyKind, Response, Turn
from tools.base import ToolError, ToolRegistry
from tools.image_args import GenerateImageArgs

log = logging.getLogger(__name__)

HELP_TEXT = (
    "I'm easel, I make images from your words.\n\n"
    "- describe a picture in plain words: \"draw a fox in the snow\", then refine it: "
    "\"make it darker\", \"add a red hat\", \"without the trees\", \"the second one, at night\"\n"
    "- `/imagine a lighthouse at dusk, watercolour` makes an image; I write a detailed "
    "prompt from your words and show it under the image\n"
    "- options go before the prompt: `/imagine --n 2 --size 768x512 --seed 7 a red fox`\n"
    "- `/imagine --raw …` sends your words to the model exactly as written\n"
    "- `/vary` new takes of the last prompt; `/vary 2` variations of image 2\n"
    "- `/edit 2 add a hat` changes image 2 of the last result; `/pick 2` makes image 2 the "
    "one follow-ups change; `/undo` goes back one step\n"
    "- `/history` lists recent pictures; `/forget` deletes everything I keep about you\n"
    "- `/settings` shows this conversation's defaults; `/settings raw=on n=2 size=768x512 "
    "steps=8` changes them (`reset` restores them)\n"
    "- attach a picture and say what to change to edit your own image\n"
    "- `/help` shows this message"
)
UNAVAILABLE = ("Sorry — my memory is temporarily unavailable, so I can't do that right now. "
               "Please try again in a minute.")
_IMAGINE_USAGE = "Try `/imagine a red apple on a wooden table`."
GENERATE = "generate_image"

Followup = Callable[[ProgressSink | None], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class AssistantConfig:
    max_images: int = 4
    max_side: int = 1536
    max_steps: int = 50
    max_prompt_tokens: int = 77  # CLIP's limit for SD-family models
    history_turns: int = 6


class Assistant:
    def __init__(self, tools: ToolRegistry, brain: Brain, *,
                 store: ConversationStore | None = None, images: Any = None,
                 gate: Any = None, tenant_strictness: dict[str, str] | None = None,
                 config: AssistantConfig | None = None) -> None:
        self.tools = tools
        self.brain = brain
        self.store = store or StorageConversationStore(EtagMemoryStorage())
        self.images = images  # ImageStore / RedisImageStore: uploads and /forget
        self.gate = gate  # safety.gate.SafetyGate (checkpoints 1 and 2; 3 sits in the tool)
        self.tenant_strictness = tenant_strictness or {}
        self.config = config or AssistantConfig()
        self.studio = Studio(tools, self.store, gate, self.strictness)
        # The rules brain answers in microseconds; LLM brains may take seconds, so their
        # decisions happen after the channel has acknowledged the message.
        self._decide_inline = getattr(brain, "name", "") == "rules"

    # ---- entry point -------------------------------------------------------------
    async def respond(self, turn: Turn) -> Response:
        try:
            response = await self._respond(turn)
        except StorageUnavailable as exc:
            log.error("storage unavailable: %s", exc)
            return Response(Reply(ReplyKind.ERROR, UNAVAILABLE))
        if response.followup is not None:
            response.followup = _guard(response.followup)
        return response

    def strictness(self, turn: Turn) -> str | None:
        """Per-tenant strictness (operator configuration), else the policy default."""
        levels = self.tenant_strictness
        return levels.get(turn.tenant_id or "") or levels.get("")  # "" = deployment default

    async def _input_refusal(self, turn: Turn, text: str) -> Response | None:
        """Checkpoint 1: the user's own words. A blocked text reaches no model at all."""
        if self.gate is None or not text.strip():
            return None
        verdict = await self.gate.check_text(text, "input", turn.user_id, self.strictness(turn))
        if verdict.allowed:
            return None
        return Response(Reply(ReplyKind.REFUSAL, self.gate.refusal_message(verdict)))

    async def _respond(self, turn: Turn) -> Response:
        cmd = commands.parse(turn.text)
        key, ukey = record_key(turn), user_key(turn)
        if cmd.name in ("chat", "imagine", "edit") and not cmd.error:
            refusal = await self._input_refusal(turn, cmd.text)
            if refusal is not None:
                return refusal
        if turn.attachments and cmd.name == "chat":
            return await self._attachment(turn, key, ukey, cmd.text)
        if cmd.name == "help":
            return Response(Reply(ReplyKind.TEXT, HELP_TEXT))
        if cmd.name == "unknown":
            return Response(Reply(
                ReplyKind.TEXT,
                f"I don't know the command /{cmd.text}. Try `/imagine <what to draw>`, or "
                "describe a picture in plain words. `/help` lists everything.",
            ))
        if cmd.error:
            return Response(Reply(ReplyKind.ERROR, cmd.error[0].upper() + cmd.error[1:] + "."))
        if cmd.name == "settings":
            return Response(await self._settings(key, ukey, cmd.text))
        if cmd.name == "forget":
            return Response(await self._forget(turn, key, ukey))
        if cmd.name == "undo":
            return Response(await self.studio.undo(key))
        if cmd.name == "pick":
            index = int(cmd.options["index"]) if "index" in cmd.options else None
            return Response(await self.studio.choose(key, turn.reference, index))
        record = await self.store.load(key)
        if cmd.name == "history":
            return Response(Reply(ReplyKind.TEXT, self.studio.history_text(record)))
        index = int(cmd.options["index"]) if "index" in cmd.options else None
        if cmd.name == "vary":
            return self._vary(turn, key, ukey, record, index)
        if cmd.name == "edit":
            if not cmd.text:
                return Response(Reply(ReplyKind.TEXT, "What should I change? For example "
                                                      "`/edit 2 make it darker`."))
            target = pick(record, turn.reference, index)
            if isinstance(target, str):
                return Response(Reply(ReplyKind.TEXT, target))
            return self._edit(turn, key, ukey, record, target, cmd.text)
        if cmd.name == "chat":
            return await self._chat(turn, key, ukey, record, cmd.text)
        return await self._imagine(turn, key, ukey, record, cmd)

    # ---- plain words -----------------------------------------------------------------
    async def _chat(self, turn: Turn, key: str, ukey: str, record: ConversationRecord,
                    text: str) -> Response:
        if not text:
            return Response(Reply(ReplyKind.TEXT, "Describe a picture and I'll draw it, or "
                                                  "type `/help`."))
        index, rest = take_pick(text)
        if (index is not None or turn.reference) and record.current is not None and rest:
            # "the second one, at night": an edit of the named picture.
            target = pick(record, turn.reference, index)
            if isinstance(target, str):
                return Response(Reply(ReplyKind.TEXT, target))
            return self._edit(turn, key, ukey, record, target, rest)
        req = self._brain_request(text, record, force=False)
        if not self._decide_inline:
            async def deferred(progress: ProgressSink | None) -> Reply:
                decision = await self.brain.decide(req)
                rec = await self.store.load(key)
                return await _run(self._act(turn, key, ukey, rec, decision, text), progress)

            return Response(None, followup=deferred, typing=True)
        decision = await self.brain.decide(req)
        return self._act(turn, key, ukey, record, decision, text)

    def _act(self, turn: Turn, key: str, ukey: str, record: ConversationRecord,
             decision: Decision, text: str) -> Response:
        if decision.tool is None:
            return Response(Reply(ReplyKind.TEXT, decision.answer or HELP_TEXT))
        if decision.tool != GENERATE:
            log.warning("brain asked for unknown tool %r", decision.tool)
            return Response(Reply(ReplyKind.ERROR, "Sorry, I can't do that yet. " + _IMAGINE_USAGE))
        cur = record.current
        seed = decision.args.get("seed")
        if cur is not None and seed is not None and seed in cur.seeds and cur.kind != "upload":
            # The brain built on the current picture (it reused its seed): edit that
            # picture rather than draw a new one from scratch.
            target = Target(cur, cur.seeds.index(seed))
            return self._edit(turn, key, ukey, record, target, text,
                              prompt=decision.args["prompt"],
                              negative=decision.args.get("negative_prompt"))
        return self._generate(turn, key, ukey, record, decision.args, user_text=text)

    # ---- /imagine ----------------------------------------------------------------------
    async def _imagine(self, turn: Turn, key: str, ukey: str, record: ConversationRecord,
                       cmd: commands.Command) -> Response:
        if not cmd.text:
            return Response(Reply(ReplyKind.TEXT, "What should I draw? " + _IMAGINE_USAGE))
        overrides, error = self._options(cmd.options)
        if error:
            return Response(Reply(ReplyKind.ERROR, error))
        if cmd.raw or record.settings.raw:
            return self._generate(turn, key, ukey, record, {"prompt": cmd.text},
                                  user_text=cmd.text, overrides=overrides, raw=True)
        req = self._brain_request(cmd.text, record, force=True)
        if not self._decide_inline:
            async def deferred(progress: ProgressSink | None) -> Reply:
                decision = await self.brain.decide(req)
                return await _run(self._generate(turn, key, ukey, record, decision.args,
                                                 user_text=cmd.text, overrides=overrides),
                                  progress)

            return Response(_working(cmd.text), followup=deferred, typing=True)
        decision = await self.brain.decide(req)
        return self._generate(turn, key, ukey, record, decision.args, user_text=cmd.text,
                              overrides=overrides)

    def _generate(self, turn: Turn, key: str, ukey: str, record: ConversationRecord,
                  brain_args: dict[str, Any], *, user_text: str,
                  overrides: dict[str, Any] | None = None, raw: bool = False,
                  parent: Any = None, kind: str = "generate") -> Response:
        args = dict(brain_args)
        settings = record.settings
        # Conversation defaults fill what the brain left open; explicit options win.
        if settings.n and "n" not in brain_args:
            args["n"] = settings.n
        if settings.size and not args.get("size"):
            args["size"] = settings.size
        args.update(overrides or {})
        try:
            parsed = self.tools.parse_args(GENERATE, args)
        except ToolError as exc:
            return Response(Reply(ReplyKind.ERROR, _friendly_args_error(str(exc))))
        assert isinstance(parsed, GenerateImageArgs)

        async def followup(progress: ProgressSink | None) -> Reply:
            return await self.studio.generate(turn, key, ukey, parsed, user_text=user_text,
                                              raw=raw, steps=settings.steps, parent=parent,
                                              kind=kind, progress=progress)

        return Response(_working(user_text), followup=followup, typing=True)

    # ---- edits and variations ----------------------------------------------------------
    def _edit(self, turn: Turn, key: str, ukey: str, record: ConversationRecord,
              target: Target, instruction: str, *, prompt: str | None = None,
              negative: str | None = None) -> Response:
        steps = record.settings.steps

        async def followup(progress: ProgressSink | None) -> Reply:
            new_prompt, neg = (prompt, negative) if prompt else \
                await self._edit_prompt(target, instruction)
            return await self.studio.edit(
                turn, key, ukey, target, prompt=new_prompt, user_text=instruction,
                strength=edit_strength(instruction), seed=target.seed, negative=neg,
                steps=steps, progress=progress)

        return Response(_working(instruction, "Editing"), followup=followup, typing=True)

    async def _edit_prompt(self, target: Target, instruction: str) -> tuple[str, str | None]:
        """The edited picture's prompt: the brain merges the instruction into the picked
        picture's prompt (as for a follow-up); an upload has no prompt, so the words are it."""
        gen = target.gen
        if gen.kind == "upload":
            return instruction, None
        req = BrainRequest(text=instruction, history=[gen.as_history()],
                           tools=[self.tools.get(GENERATE).spec],
                           max_prompt_tokens=self.config.max_prompt_tokens)
        decision = await self.brain.decide(req)
        if decision.tool == GENERATE and decision.args.get("prompt"):
            return decision.args["prompt"], decision.args.get("negative_prompt")
        return f"{gen.prompt}, {instruction}", None

    def _vary(self, turn: Turn, key: str, ukey: str, record: ConversationRecord,
              index: int | None) -> Response:
        target = pick(record, turn.reference, index)
        if isinstance(target, str):
            return Response(Reply(ReplyKind.TEXT, target))
        gen, n = target.gen, max(1, len(target.gen.image_ids))
        label = f"variations of image {target.index + 1}" if index else "new takes"
        if index is None and gen.kind != "upload":
            # Same prompt, new seeds: a fresh roll of the dice, like Midjourney's re-roll.
            args = {"prompt": gen.prompt, "n": n, "size": f"{gen.width}x{gen.height}"}
            if gen.negative_prompt:
                args["negative_prompt"] = gen.negative_prompt
            response = self._generate(turn, key, ukey, record, args, user_text=f"/vary ({label})",
                                      raw=True, parent=gen, kind="vary")
        else:
            steps = record.settings.steps

            async def followup(progress: ProgressSink | None) -> Reply:
                return await self.studio.edit(
                    turn, key, ukey, target,
                    prompt=gen.prompt if gen.kind != "upload" else (gen.user_text or "a photo"),
                    user_text=f"/vary {target.index + 1}", strength=VARY_STRENGTH, seed=None,
                    n=n, negative=gen.negative_prompt, steps=steps, kind="vary",
                    progress=progress)

            response = Response(None, followup=followup, typing=True)
        response.immediate = Reply(ReplyKind.TEXT, f"🎨 Making {label}…")
        return response

    # ---- attachments --------------------------------------------------------------------
    async def _attachment(self, turn: Turn, key: str, ukey: str, text: str) -> Response:
        if self.images is None:
            return Response(Reply(ReplyKind.ERROR, "I can't take pictures here."))
        try:
            image = Image.open(io.BytesIO(turn.attachments[0]))
            image.load()
            image = image.convert("RGB")
        except Exception:
            return Response(Reply(ReplyKind.ERROR, "I couldn't read that picture. PNG, JPEG "
                                                   "and WebP images work."))
        image = _fit_for_editing(image, self.config.max_side)
        if self.gate is not None:
            # Uploads pass the same image check as generated pictures before easel keeps them.
            [verdict] = await self.gate.check_images([image], turn.user_id, self.strictness(turn))
            if not verdict.allowed:
                return Response(Reply(ReplyKind.REFUSAL, self.gate.refusal_message(verdict)))
        stored = await self.images.save(image)
        gen = await self.studio.upload(key, ukey, stored.image_id, stored.width, stored.height,
                                       user_text=text or "(attachment)")
        if not text.strip():
            return Response(Reply(ReplyKind.TEXT, "Got your picture. Tell me what to change — "
                                                  "\"make it a watercolour\", \"add a hat\"."))
        record = await self.store.load(key)
        return self._edit(turn, key, ukey, record, Target(gen, 0), text)

    # ---- settings and privacy -------------------------------------------------------------
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

    async def _settings(self, key: str, ukey: str, text: str) -> Reply:
        words = text.split()
        if not words:
            return Reply(ReplyKind.TEXT, _describe_settings(await self.store.load(key)))
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

        rec = await self.store.update(key, apply, user=ukey)
        return Reply(ReplyKind.TEXT, "Saved. " + _describe_settings(rec))

    async def _forget(self, turn: Turn, key: str, ukey: str) -> Reply:
        image_ids = await self.store.forget_user(ukey)
        deleted = await self.images.delete(image_ids) if self.images is not None else 0
        return Reply(ReplyKind.TEXT, f"Done: I deleted your conversation history, settings "
                                     f"and {deleted} image{'s' if deleted != 1 else ''}. "
                                     "Nothing of it is kept.")

    # ---- helpers ---------------------------------------------------------------------------
    def _brain_request(self, text: str, record: ConversationRecord, *, force: bool) -> BrainRequest:
        return BrainRequest(
            text=text,
            history=record.history(self.config.history_turns),
            tools=[self.tools.get(GENERATE).spec],
            force_tool=GENERATE if force else None,
            max_prompt_tokens=self.config.max_prompt_tokens,
        )


async def _run(response: Response, progress: ProgressSink | None) -> Reply:
    if response.followup is None:
        assert response.immediate is not None
        return response.immediate
    return await response.followup(progress)


def _guard(followup: Followup) -> Followup:
    async def guarded(progress: ProgressSink | None) -> Reply:
        try:
            return await followup(progress)
        except StorageUnavailable as exc:
            log.error("storage unavailable: %s", exc)
            return Reply(ReplyKind.ERROR, UNAVAILABLE)

    return guarded


def _fit_for_editing(image: Image.Image, max_side: int) -> Image.Image:
    """Uploads become at most max_side, with sides a multiple of 8 (what VAEs need)."""
    img = image
    if max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    w, h = max(64, img.width // 8 * 8), max(64, img.height // 8 * 8)
    return img if (w, h) == img.size else img.resize((w, h), Image.Resampling.LANCZOS)


def _working(user_text: str, verb: str = "Working on") -> Reply:
    return Reply(ReplyKind.TEXT, f"🎨 {verb} “{_shorten(user_text, 80)}”…")


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
