"""Image requests, in plain words or as commands: what to draw, decided now or after the ack.

Each method answers with a `Response`: a short "working on it" reply for the channel to
send at once, and a `followup` that runs the studio action (checkpoint 2, the tool, the
record) and yields the final reply. The brain turns words into a `generate_image` call; a
decision that builds on the current picture (the brain reused its seed: "make it darker")
or that names a picture ("the second one, at night") becomes an image-to-image edit of
that picture, so it stays the same picture.

Flow: assistant.py (parse, checkpoint 1, dispatch) -> here (brain) -> studio.py (gate 2,
tool, record) -> tools/ -> imaging/. Nothing here calls back up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.arena.entries import EVERY_NTH
from bot.llm.base import Brain, BrainRequest, Decision
from bot.llm.checked import FaithfulBrain
from bot.llm.profiles import SD, PromptProfile
from bot.pipeline import commands, replies
from bot.pipeline.picks import edit_strength, take_pick
from bot.pipeline.studio import GENERATE, VARY_STRENGTH, Scope, Studio, Target, pick
from bot.state.conversations import ConversationRecord, ConversationStore, Generation
from bot.turn import ProgressSink, Reply, ReplyKind, Response
from tools.base import ToolError, ToolRegistry

log = logging.getLogger(__name__)

Followup = Callable[[ProgressSink | None], Awaitable[Reply]]


class Battles(Protocol):
    def battle(self, scope: Scope, prompt: str) -> Response: ...


@dataclass(frozen=True, slots=True)
class AssistantConfig:
    max_images: int = 4
    max_side: int = 1536
    max_steps: int = 50
    history_turns: int = 6
    profile: PromptProfile = SD  # how the default engine wants its prompts
    # The named engines (several configured), and how each wants its prompts.
    engines: tuple[str, ...] = ()
    profiles: dict[str, PromptProfile] = field(default_factory=dict)

    @property
    def max_prompt_tokens(self) -> int:
        return self.profile.max_tokens

    def profile_for(self, engine: str | None) -> PromptProfile:
        return self.profiles.get(engine or "", self.profile)

    @property
    def limits(self) -> commands.CommandLimits:
        return commands.CommandLimits(self.max_images, self.max_side, self.max_steps,
                                      self.engines)


class ImageTurns:
    def __init__(self, studio: Studio, brain: Brain, tools: ToolRegistry,
                 store: ConversationStore, config: AssistantConfig) -> None:
        self.studio = studio
        # Every backend's rewrite is checked against the user's words before it is used.
        self.brain = brain if isinstance(brain, FaithfulBrain) else FaithfulBrain(brain)
        self.tools = tools
        self.store = store
        self.config = config
        # The rules brain answers in microseconds; LLM brains may take seconds, so their
        # decisions happen after the channel has acknowledged the message.
        self._decide_inline = brain.name == "rules"
        self.battles: Battles | None = None  # /settings arena=on: every 5th is a battle

    # ---- plain words -----------------------------------------------------------------
    async def chat(self, scope: Scope, record: ConversationRecord, text: str) -> Response:
        if not text:
            return Response(replies.text(replies.CHAT_USAGE))
        index, rest = take_pick(text)
        if (index is not None or scope.turn.reference) and record.current is not None and rest:
            # "the second one, at night": an edit of the named picture.
            target = pick(record, scope.turn.reference, index)
            if isinstance(target, str):
                return Response(replies.text(target))
            return self.edit(scope, record, target, rest)
        req = self._brain_request(text, record, force=False, engine=self._engine(record))
        if self._decide_inline:
            decision = await self.brain.decide(req)
            if _new_picture(record, decision) and await self._battle_due(scope, record):
                assert self.battles is not None
                return self.battles.battle(scope, text)
            return self._act(scope, record, decision, text)

        async def deferred(progress: ProgressSink | None) -> Reply:
            decision = await self.brain.decide(req)
            fresh = await self.store.load(scope.key)  # it may have changed while we thought
            if _new_picture(fresh, decision) and await self._battle_due(scope, fresh):
                assert self.battles is not None
                return await _finish(self.battles.battle(scope, text), progress)
            return await _finish(self._act(scope, fresh, decision, text), progress)

        return Response(None, followup=deferred, typing=True)

    def _act(self, scope: Scope, record: ConversationRecord, decision: Decision,
             text: str) -> Response:
        if decision.tool is None:
            return Response(replies.text(decision.answer or replies.HELP_TEXT))
        if decision.tool != GENERATE:
            log.warning("brain asked for unknown tool %r", decision.tool)
            return Response(replies.error("Sorry, I can't do that yet. " + replies.IMAGINE_USAGE))
        cur = record.current
        seed = decision.args.get("seed")
        if cur is not None and seed is not None and seed in cur.seeds and cur.kind != "upload":
            # The brain built on the current picture (it reused its seed): edit that
            # picture rather than draw a new one from scratch.
            target = Target(cur, cur.seeds.index(seed))
            return self.edit(scope, record, target, text, prompt=decision.args["prompt"],
                             negative=decision.args.get("negative_prompt"))
        return self.generate(scope, record, decision.args, user_text=text)

    # ---- /imagine ----------------------------------------------------------------------
    async def imagine(self, scope: Scope, record: ConversationRecord,
                      cmd: commands.Command) -> Response:
        if not cmd.text:
            return Response(replies.text("What should I draw? " + replies.IMAGINE_USAGE))
        try:
            overrides = commands.image_options(cmd.options, self.config.limits)
        except commands.CommandError as exc:
            return Response(replies.error(str(exc)))
        if not cmd.options and not cmd.raw and await self._battle_due(scope, record):
            assert self.battles is not None
            return self.battles.battle(scope, cmd.text)
        engine = cmd.options.get("model") or self._engine(record)
        if cmd.raw or record.settings.raw:
            return self.generate(scope, record, {"prompt": cmd.text}, user_text=cmd.text,
                                 overrides=overrides, raw=True, engine=engine)
        req = self._brain_request(cmd.text, record, force=True, engine=engine)
        if self._decide_inline:
            decision = await self.brain.decide(req)
            return self.generate(scope, record, decision.args, user_text=cmd.text,
                                 overrides=overrides, engine=engine)

        async def deferred(progress: ProgressSink | None) -> Reply:
            decision = await self.brain.decide(req)
            return await _finish(self.generate(scope, record, decision.args,
                                               user_text=cmd.text, overrides=overrides,
                                               engine=engine), progress)

        return Response(replies.working(cmd.text), followup=deferred, typing=True)

    def generate(self, scope: Scope, record: ConversationRecord, brain_args: dict[str, Any], *,
                 user_text: str, overrides: dict[str, Any] | None = None, raw: bool = False,
                 parent: Generation | None = None, kind: str = "generate",
                 engine: str | None = None) -> Response:
        try:
            args = self.studio.generate_args(brain_args, record.settings, overrides)
        except ToolError as exc:
            return Response(replies.error(replies.friendly_args_error(str(exc))))
        steps = record.settings.steps
        engine = engine or self._engine(record)

        async def followup(progress: ProgressSink | None) -> Reply:
            return await self.studio.generate(scope, args, user_text=user_text, raw=raw,
                                              steps=steps, parent=parent, kind=kind,
                                              progress=progress, engine=engine)

        return Response(replies.working(user_text), followup=followup, typing=True)

    # ---- edits and variations ----------------------------------------------------------
    def edit(self, scope: Scope, record: ConversationRecord, target: Target, instruction: str,
             *, prompt: str | None = None, negative: str | None = None) -> Response:
        steps, engine = record.settings.steps, self._engine(record)

        async def followup(progress: ProgressSink | None) -> Reply:
            new_prompt, neg = (prompt, negative) if prompt else \
                await self.edit_prompt(target.gen, instruction, engine)
            return await self.studio.edit(
                scope, target, prompt=new_prompt, user_text=instruction,
                strength=edit_strength(instruction), seed=target.seed, negative=neg,
                steps=steps, progress=progress, engine=engine)

        return Response(replies.working(instruction, "Editing"), followup=followup, typing=True)

    async def edit_prompt(self, gen: Generation, instruction: str, engine: str | None
                           ) -> tuple[str, str | None]:
        """The edited picture's prompt: the brain merges the instruction into the picked
        picture's prompt (as for a follow-up); an upload has no prompt, so the words are it."""
        if gen.kind == "upload":
            return instruction, None
        profile = self.config.profile_for(engine)
        req = BrainRequest(text=instruction, history=[gen.as_history()],
                           tools=[self.tools.get(GENERATE).spec],
                           max_prompt_tokens=profile.max_tokens, profile=profile)
        decision = await self.brain.decide(req)
        if decision.tool == GENERATE and decision.args.get("prompt"):
            return decision.args["prompt"], decision.args.get("negative_prompt")
        return f"{gen.prompt}, {instruction}", None

    def vary(self, scope: Scope, record: ConversationRecord, index: int | None) -> Response:
        target = pick(record, scope.turn.reference, index)
        if isinstance(target, str):
            return Response(replies.text(target))
        gen, n = target.gen, max(1, len(target.gen.image_ids))
        label = f"variations of image {target.index + 1}" if index else "new takes"
        if index is None and gen.kind != "upload":
            # Same prompt, new seeds: a fresh roll of the dice, like Midjourney's re-roll.
            args = {"prompt": gen.prompt, "n": n, "size": f"{gen.width}x{gen.height}"}
            if gen.negative_prompt:
                args["negative_prompt"] = gen.negative_prompt
            response = self.generate(scope, record, args, user_text=f"/vary ({label})",
                                     raw=True, parent=gen, kind="vary")
        else:
            steps, engine = record.settings.steps, self._engine(record)
            prompt = gen.prompt if gen.kind != "upload" else (gen.user_text or "a photo")

            async def followup(progress: ProgressSink | None) -> Reply:
                return await self.studio.edit(
                    scope, target, prompt=prompt, user_text=f"/vary {target.index + 1}",
                    strength=VARY_STRENGTH, seed=None, n=n, negative=gen.negative_prompt,
                    steps=steps, kind="vary", progress=progress, engine=engine)

            response = Response(None, followup=followup, typing=True)
        response.immediate = Reply(ReplyKind.TEXT, f"🎨 Making {label}…")
        return response

    async def _battle_due(self, scope: Scope, record: ConversationRecord) -> bool:
        """With arena=on, every 5th image request of the conversation is a battle."""
        if self.battles is None or not record.settings.arena:
            return False

        def count(rec: ConversationRecord) -> None:
            rec.image_requests += 1

        rec = await self.store.update(scope.key, count, user=scope.user_key)
        return rec.image_requests % EVERY_NTH == 0

    def engine_for(self, record: ConversationRecord) -> str | None:
        return self._engine(record)

    def _engine(self, record: ConversationRecord) -> str | None:
        """The conversation's engine: its setting, unless that engine is gone (the
        operator changed the engines file), then the default."""
        model = record.settings.model
        return model if model in self.config.engines else None

    def _brain_request(self, text: str, record: ConversationRecord, *, force: bool,
                       engine: str | None) -> BrainRequest:
        profile = self.config.profile_for(engine)
        return BrainRequest(
            text=text,
            history=record.history(self.config.history_turns),
            tools=[self.tools.get(GENERATE).spec],
            force_tool=GENERATE if force else None,
            max_prompt_tokens=profile.max_tokens,
            profile=profile,
        )


def _new_picture(record: ConversationRecord, decision: Decision) -> bool:
    """A decision to draw something new (not an edit of the current picture)."""
    if decision.tool != GENERATE:
        return False
    cur, seed = record.current, decision.args.get("seed")
    return cur is None or seed is None or seed not in cur.seeds


async def _finish(response: Response, progress: ProgressSink | None) -> Reply:
    """Run a response decided after the ack to its final reply."""
    if response.followup is None:
        assert response.immediate is not None
        return response.immediate
    return await response.followup(progress)

