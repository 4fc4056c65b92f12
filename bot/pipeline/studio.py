"""Image actions on a conversation's history: generate, edit, vary, upload, pick, undo.

The assistant decides *what* to do; the studio does it against the conversation record
(bot/state/conversations.py) and the image tools: checkpoint 2 (the prompt), the tool call, and the
record of each result as a generation whose parent is the picture it came from, so /undo
can walk back and follow-ups edit the picked image. It never calls back into the
assistant: everything it needs about the turn arrives in a `Scope`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from bot.pipeline.job_replies import failure_reply, resume_context
from bot.pipeline.scope import Scope
from bot.state.conversations import (
    ConversationRecord,
    ConversationSettings,
    ConversationStore,
    Generation,
)
from bot.turn import DeliveredImage, ProgressSink, Reply, ReplyKind
from imaging.engine import GenerationError
from imaging.jobs import JobCancelled, QuotaExceeded
from safety.gate import Gate
from tools.base import Own, ToolContext, ToolError, ToolRegistry, ToolResult
from tools.engine_plan import EditUnsupported
from tools.image_args import GenerateImageArgs
from tools.keep import KeepTrying, StorageGaveUp

log = logging.getLogger(__name__)

VARY_STRENGTH = 0.6  # V1..V4: clearly a variation, still recognisably the same picture
GENERATE = "generate_image"
EDIT = "edit_image"


@dataclass(frozen=True, slots=True)
class Target:
    """The picture an action applies to: a generation and one of its images."""

    gen: Generation
    index: int  # 0-based

    @property
    def image_id(self) -> str:
        return self.gen.image_ids[self.index]

    @property
    def seed(self) -> int:
        return self.gen.seeds[self.index] if self.index < len(self.gen.seeds) else self.gen.seeds[0]


def pick(record: ConversationRecord, reference: str | None, index: int | None
         ) -> Target | str:
    """Resolve "image N of the referenced (or current) generation", or say what's wrong."""
    gen = record.find(reference) if reference else record.current
    if gen is None:
        if reference:
            return "That picture is not in this conversation's history any more."
        return "There's no picture to change yet — describe one first, e.g. \"draw a fox\"."
    if not gen.image_ids:
        return "That picture has no images left."
    if index is None:
        picked = record.current_index if gen.id == record.current_id else 0
        return Target(gen, picked if picked < len(gen.image_ids) else 0)
    if index == -1:
        return Target(gen, len(gen.image_ids) - 1)
    if not 1 <= index <= len(gen.image_ids):
        count = len(gen.image_ids)
        return (f"There {'is' if count == 1 else 'are'} only {count} "
                f"image{'s' if count != 1 else ''} in that result.")
    return Target(gen, index - 1)


class Studio:
    def __init__(self, tools: ToolRegistry, store: ConversationStore, gate: Gate,
                 keep: KeepTrying | None = None) -> None:
        """`keep`: how long a finished picture's record waits out a storage outage."""
        self.tools = tools
        self.store = store
        self.gate = gate  # checkpoint 2 here; checkpoint 3 sits in the image tool
        self.keep = keep or KeepTrying()

    def generate_args(self, brain_args: dict[str, Any], settings: ConversationSettings,
                      overrides: dict[str, Any] | None = None) -> GenerateImageArgs:
        """The tool's arguments: the conversation's defaults fill what the brain left
        open, explicit options win. Raises `ToolError` with a message for the user."""
        args = dict(brain_args)
        if settings.n and "n" not in brain_args:
            args["n"] = settings.n
        if settings.size and not args.get("size"):
            args["size"] = settings.size
        args.update(overrides or {})
        parsed = self.tools.parse_args(GENERATE, args)
        assert isinstance(parsed, GenerateImageArgs)
        return parsed

    async def generate(self, scope: Scope, args: GenerateImageArgs, *, user_text: str,
                       raw: bool, steps: int | None, parent: Generation | None = None,
                       kind: str = "generate", progress: ProgressSink | None,
                       engine: str | None = None) -> Reply:
        refusal = await self.prompt_refusal(scope, args.prompt)
        if refusal is not None:
            return refusal
        ctx = self.context(scope, progress, steps, engine)
        ctx.resume = resume_context(scope, user_text=user_text, raw=raw, kind=kind,
                                    parent_id=parent.id if parent else None,
                                    negative=args.negative_prompt)
        result = await self.run_tool(GENERATE, args.model_dump(exclude_none=True), ctx)
        if isinstance(result, Reply):
            return result
        return _job(await self._record(scope, result, user_text=user_text, raw=raw,
                                       parent=parent, kind=kind,
                                       negative=args.negative_prompt), ctx)

    async def edit(self, scope: Scope, target: Target, *, prompt: str, user_text: str,
                   strength: float, seed: int | None, n: int = 1, negative: str | None = None,
                   steps: int | None, kind: str = "edit",
                   progress: ProgressSink | None, engine: str | None = None) -> Reply:
        refusal = await self.prompt_refusal(scope, prompt)
        if refusal is not None:
            return refusal
        ctx = self.context(scope, progress, steps, engine)
        ctx.resume = resume_context(scope, user_text=user_text, raw=False, kind=kind,
                                    parent_id=target.gen.id, negative=negative,
                                    strength=strength)
        args = {"image_id": target.image_id, "prompt": prompt, "strength": strength, "n": n,
                "seed": seed, "negative_prompt": negative}
        try:
            result = await self.run_tool(EDIT, {k: v for k, v in args.items() if v is not None}, ctx)
        except EditUnsupported as exc:
            # The documented fallback: an engine that cannot edit draws the changed
            # prompt afresh (the same picture cannot be kept, so the user is told).
            redraw = {"prompt": prompt, "n": n, "negative_prompt": negative}
            result = await self.run_tool(GENERATE, {k: v for k, v in redraw.items() if v}, ctx)
            if isinstance(result, ToolResult):
                result.text = " ".join([f"{exc}, so I drew it again from the changed prompt.",
                                        result.text]).strip()
        if isinstance(result, Reply):
            return result
        return _job(await self._record(scope, result, user_text=user_text, raw=False,
                                       parent=target.gen, kind=kind, strength=strength,
                                       negative=negative), ctx)

    async def upload(self, scope: Scope, image_id: str, width: int, height: int,
                     user_text: str) -> Generation:
        gen = Generation(id=Generation.new_id(), parent_id=None, user_text=user_text,
                         prompt="(your image)", seeds=[secrets.randbelow(2**31)],
                         image_ids=[image_id], width=width, height=height, kind="upload")
        await self.store.update(scope.key, _add_once(gen), user=scope.user_key)
        return gen

    async def prompt_refusal(self, scope: Scope, prompt: str) -> Reply | None:
        """Checkpoint 2: the prompt actually sent to the engine (an LLM can be talked into
        writing what the user could not)."""
        verdict = await self.gate.check_text(prompt, "prompt", scope.turn.user_id,
                                             scope.strictness)
        if verdict.allowed:
            return None
        return Reply(ReplyKind.REFUSAL, self.gate.refusal_message(verdict))

    async def choose(self, key: str, reference: str | None, index: int | None) -> Reply:
        """"Use this one": make image N of a result the picture follow-ups change."""
        box: dict[str, str] = {}

        def apply(rec: ConversationRecord) -> None:
            target = pick(rec, reference, index)
            if isinstance(target, str):
                box["msg"] = target
                return
            rec.current_id, rec.current_index = target.gen.id, target.index
            box["msg"] = (f"Picked image {target.index + 1}. Follow-ups like \"make it darker\" "
                          "now change that one.")

        await self.store.update(key, apply)
        return Reply(ReplyKind.TEXT, box["msg"])

    async def undo(self, key: str) -> Reply:
        box: dict[str, Generation | str] = {}

        def step_back(rec: ConversationRecord) -> None:
            cur = rec.current
            if cur is None:
                box["msg"] = "There's nothing to undo yet."
            elif cur.parent_id is None or rec.find(cur.parent_id) is None:
                box["msg"] = "That's the first picture of this conversation; nothing to undo."
            else:
                rec.current_id = cur.parent_id
                rec.current_index = 0
                box["gen"] = rec.find(cur.parent_id)  # type: ignore[assignment]

        await self.store.update(key, step_back)
        gen = box.get("gen")
        if not isinstance(gen, Generation):
            return Reply(ReplyKind.TEXT, str(box.get("msg")))
        return self.show(gen, text="Back to the previous picture; follow-ups now change this one.")

    @staticmethod
    def show(gen: Generation, text: str = "") -> Reply:
        images = [DeliveredImage(i, gen.width, gen.height, s, reproducible=gen.reproducible)
                  for i, s in zip(gen.image_ids, _pad(gen.seeds, len(gen.image_ids)),
                                  strict=True)]
        return Reply(ReplyKind.IMAGES, text, images=images, prompt=gen.prompt,
                     user_prompt=gen.user_text, steps=gen.steps, generation_id=gen.id,
                     engine=gen.engine)

    def context(self, scope: Scope, progress: ProgressSink | None, steps: int | None,
                engine: str | None = None) -> ToolContext:
        turn = scope.turn
        return ToolContext(turn.conversation_id, turn.user_id, progress, steps=steps,
                           tenant_id=turn.tenant_id, engine=engine, own=self.owner(scope))

    def owner(self, scope: Scope) -> Own:
        """Notes what a tool stores for this scope's user, so /forget finds it."""
        return partial(self.store.own, scope.user_key)

    async def run_tool(self, tool: str, args: dict, ctx: ToolContext) -> ToolResult | Reply:
        try:
            return await self.tools.call(tool, args, ctx)
        except EditUnsupported:
            raise  # the caller falls back to drawing afresh
        except (ToolError, QuotaExceeded, JobCancelled, GenerationError) as exc:
            return _job(failure_reply(exc, ctx.conversation_id), ctx)

    async def record_result(self, scope: Scope, result: ToolResult, *, user_text: str,
                            raw: bool, parent: Generation | None, kind: str,
                            strength: float | None = None, negative: str | None = None
                            ) -> Reply:
        """The tool's result as a generation of the conversation, and the reply for it."""
        return await self._record(scope, result, user_text=user_text, raw=raw, parent=parent,
                                  kind=kind, strength=strength, negative=negative)

    async def _record(self, scope: Scope, result: ToolResult, *, user_text: str, raw: bool,
                      parent: Generation | None, kind: str, strength: float | None = None,
                      negative: str | None = None) -> Reply:
        if not result.images:
            return Reply(ReplyKind.REFUSAL if result.withheld else ReplyKind.ERROR,
                         result.text or "Sorry, no image could be delivered. Please try again "
                                        "or rephrase.", withheld=result.withheld)
        gen = Generation(
            id=Generation.new_id(), parent_id=parent.id if parent else None,
            user_text=user_text, prompt=result.prompt or "",
            seeds=[i.seed for i in result.images], image_ids=[i.image_id for i in result.images],
            width=result.images[0].width, height=result.images[0].height,
            steps=result.steps, kind=kind, strength=strength, negative_prompt=negative, raw=raw,
            engine=result.engine, reproducible=all(i.reproducible for i in result.images),
        )
        try:
            # The picture is stored already: its record waits out an outage as it did.
            await self.keep.run(partial(self.store.update, scope.key, _add_once(gen),
                                        user=scope.user_key), "the record of a new picture")
        except StorageGaveUp as exc:
            return failure_reply(exc, scope.turn.conversation_id)
        return Reply(ReplyKind.IMAGES, result.text, images=result.images, prompt=result.prompt,
                     user_prompt=user_text, steps=result.steps, withheld=result.withheld,
                     generation_id=gen.id, engine=result.engine)


def _add_once(gen: Generation) -> Callable[[ConversationRecord], None]:
    """Adds `gen` unless an earlier try that failed after writing added it already."""

    def add(rec: ConversationRecord) -> None:
        if rec.find(gen.id) is None:
            rec.add(gen)

    return add


def _job(reply: Reply, ctx: ToolContext) -> Reply:
    reply.job_id = ctx.job_ids[-1] if ctx.job_ids else None
    return reply


def _pad(seeds: list[int], n: int) -> list[int]:
    return (seeds + [seeds[-1] if seeds else 0] * n)[:n]
