"""Battles in the chat: `/arena <prompt>`, `/vote a|b|tie|bad`, `/arena board`.

A battle draws two different entries at random, in random order (sides A and B), gives
both the same user prompt (each entry rewrites it its own way, or not at all for a
`:raw` entry), checks each prompt (checkpoint 2), draws one picture per entry with the
same seed, and shows them side by side with the names hidden. Each picture passes the
image check in the tool as always; if either is withheld the battle is void (stored, so
the board can say how many) and the user is told. A vote names the battle (a button's
reference, or the conversation's latest battle for a typed `/vote`); each user votes once
per battle, and the names are revealed to the voter after the vote. With the Ray runner a
battle is recorded as it starts (a turn record, imaging/jobs/records.py), so if its bot
process dies another draws it again, same entries on the same sides, and delivers it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from dataclasses import replace
from typing import Any, Protocol

from bot.arena.board import board_text
from bot.arena.entries import ArenaEntry
from bot.arena.model import Battle, BattleState, Choice
from bot.arena.ratings import build_board
from bot.arena.store import ArenaStore, VoteOutcome
from bot.llm.base import Brain, BrainRequest
from bot.llm.profiles import PromptProfile
from bot.llm.rules_prompt import category_of
from bot.llm.rules_request import request_subject
from bot.pipeline.job_replies import resume_context
from bot.pipeline.studio import GENERATE, Scope, Studio
from bot.state.conversations import ConversationRecord, ConversationStore
from bot.turn import ProgressSink, Reply, ReplyKind, Response
from imaging.jobs.model import new_job_id
from tools.base import ToolRegistry, ToolResult

log = logging.getLogger(__name__)

VOTE_USAGE = ("Vote with `/vote a`, `/vote b`, `/vote tie` or `/vote bad` (both bad), or with "
              "the buttons under the pictures.")
NO_BATTLE = "There's no battle to vote on here yet: `/arena <prompt>` starts one."


class TurnJournal(Protocol):
    """imaging/jobs/records.py: a turn recorded so that another bot process finishes it."""

    async def create_turn(self, turn_id: str, user: str, context: dict[str, Any]) -> None: ...


class ArenaTurns:
    def __init__(self, studio: Studio, brain: Brain, tools: ToolRegistry,
                 conversations: ConversationStore, battles: ArenaStore,
                 entries: list[ArenaEntry], profiles: dict[str, PromptProfile],
                 default_profile: PromptProfile, rng: random.Random | None = None,
                 journal: TurnJournal | None = None) -> None:
        """`journal`: with the Ray runner, each battle is recorded as it starts, so that
        if this process dies another draws it again and delivers it (bot/pipeline/recovery.py)."""
        self.studio = studio
        self.brain = brain  # the checked (faithful) brain the image turns use
        self.tools = tools
        self.conversations = conversations
        self.battles = battles
        self.entries = entries
        self.profiles = profiles
        self.default_profile = default_profile
        self.rng = rng or random.SystemRandom()
        self.journal = journal

    # ---- /arena <prompt> -------------------------------------------------------------
    def battle(self, scope: Scope, prompt: str) -> Response:
        if not prompt:
            return Response(Reply(ReplyKind.TEXT, "What should the two entries draw? Try "
                                                  "`/arena a lighthouse at dusk`."))
        a, b = self.rng.sample(self.entries, 2)  # random pair, random sides

        async def followup(progress: ProgressSink | None) -> Reply:
            turn_id = new_job_id()
            context = battle_context(scope, prompt, a, b)
            journaled = self.journal is not None and context is not None
            if self.journal is not None and context is not None:
                await self.studio.owner(scope)("job", [turn_id])  # for /forget, first
                await self.journal.create_turn(turn_id, scope.turn.user_id, context)
            reply = await self._fight(scope, prompt, a, b)
            reply.job_id = turn_id if journaled else None  # one delivery, whoever posts it
            return reply

        return Response(Reply(ReplyKind.TEXT, "⚔️ Two entries are drawing your prompt; vote "
                                              "for the better picture when they're done."),
                        followup=followup, typing=True)

    async def resume_battle(self, scope: Scope, context: dict[str, Any]) -> Reply:
        """A battle whose bot process stopped: the same entries on the same sides."""
        named = {e.name: e for e in self.entries}
        a, b = named.get(context["entry_a"]), named.get(context["entry_b"])
        if a is None or b is None:
            return Reply(ReplyKind.ERROR, "The arena changed while your battle was being "
                                          "drawn, so it could not be finished. Start another "
                                          "with `/arena <prompt>`.")
        return await self._fight(scope, str(context["prompt"]), a, b)

    async def _fight(self, scope: Scope, prompt: str, a: ArenaEntry, b: ArenaEntry) -> Reply:
        prompts = [await self._prompt(e, prompt) for e in (a, b)]
        for p in dict.fromkeys(prompts):
            refusal = await self.studio.prompt_refusal(scope, p)
            if refusal is not None:
                return refusal
        seed = secrets.randbelow(2**31)  # the same seed for both: only the entry differs
        results = await asyncio.gather(*(self._draw(scope, e, p, seed)
                                         for e, p in zip((a, b), prompts, strict=True)))
        for r in results:
            if isinstance(r, Reply):
                return r  # a failure or a limit: said as for any picture
        ra, rb = results
        assert isinstance(ra, ToolResult) and isinstance(rb, ToolResult)
        battle = Battle.new(conversation_id=_conversation(scope), prompt=prompt,
                            category=category_of(request_subject(prompt)),
                            entry_a=a.name, entry_b=b.name,
                            images_a=[i.image_id for i in ra.images],
                            images_b=[i.image_id for i in rb.images],
                            prompt_a=ra.prompt, prompt_b=rb.prompt)
        if ra.withheld or rb.withheld or not ra.images or not rb.images:
            await self.battles.save_battle(battle.voided("an image was withheld by the gate"))
            return Reply(ReplyKind.REFUSAL, "One of the two pictures was withheld by the safety "
                                            "check, so this battle is void: it doesn't count "
                                            "for either side. Try another prompt.",
                         withheld=ra.withheld + rb.withheld)
        await self.battles.save_battle(battle)
        await self.conversations.update(scope.key, lambda rec: _remember(rec, battle.id),
                                        user=scope.user_key)
        # Seeds would tell two variants of one model apart; the battle shows none.
        images = [replace(ra.images[0], reproducible=False),
                  replace(rb.images[0], reproducible=False)]
        return Reply(ReplyKind.IMAGES, f"⚔️ Which is better for “{_short(prompt)}”? **A** is "
                                       "the first picture, **B** the second. The names are "
                                       "revealed after you vote. " + VOTE_USAGE,
                     images=images, user_prompt=prompt, battle_id=battle.id)

    async def _prompt(self, entry: ArenaEntry, prompt: str) -> str:
        if not entry.rewrite:
            return prompt
        profile = self.profiles.get(entry.engine, self.default_profile)
        req = BrainRequest(text=prompt, history=[], tools=[self.tools.get(GENERATE).spec],
                           force_tool=GENERATE, max_prompt_tokens=profile.max_tokens,
                           profile=profile)
        decision = await self.brain.decide(req)
        return str(decision.args.get("prompt") or prompt)

    async def _draw(self, scope: Scope, entry: ArenaEntry, prompt: str, seed: int
                    ) -> ToolResult | Reply:
        ctx = self.studio.context(scope, None, entry.steps, entry.engine)
        return await self.studio.run_tool(GENERATE, {"prompt": prompt, "n": 1, "seed": seed},
                                          ctx)

    # ---- /vote -------------------------------------------------------------------------
    async def vote(self, scope: Scope, record: ConversationRecord, text: str) -> Response:
        words = text.split()
        choice = Choice.parse(" ".join(words[:2])) or Choice.parse(words[0]) if words else None
        if choice is None:
            return Response(Reply(ReplyKind.TEXT, VOTE_USAGE))
        battle_id = scope.turn.reference or record.battle_id or await self._latest(scope)
        if not battle_id:
            return Response(Reply(ReplyKind.TEXT, NO_BATTLE))
        result = await self.battles.record_vote(battle_id, scope.turn.user_id, choice)
        battle = result.battle
        if result.outcome is VoteOutcome.UNKNOWN or battle is None:
            return Response(Reply(ReplyKind.TEXT, NO_BATTLE))
        if result.outcome is VoteOutcome.VOID:
            return Response(Reply(ReplyKind.TEXT, "That battle is void (a picture was withheld), "
                                                  "so it takes no votes."))
        reveal = f"**A** was **{battle.entry_a}**, **B** was **{battle.entry_b}**."
        if result.outcome is VoteOutcome.ALREADY_VOTED:
            earlier = result.vote.choice.value if result.vote else "?"
            return Response(Reply(ReplyKind.TEXT, f"You already voted on this battle ({earlier}); "
                                                  f"one vote each. {reveal}"))
        said = {Choice.A: "A is better", Choice.B: "B is better", Choice.TIE: "a tie",
                Choice.BAD: "both bad"}[choice]
        return Response(Reply(ReplyKind.TEXT, f"Thanks, your vote counts: {said}. {reveal} "
                                              "`/arena board` shows the standings."))

    async def _latest(self, scope: Scope) -> str | None:
        """The conversation's latest battle, for a typed /vote by someone who did not
        start it (group chats keep a record per user). It reads every battle: typed
        votes are rare, the buttons name their battle."""
        here = _conversation(scope)
        for bv in reversed(await self.battles.list_battles()):
            if bv.battle.conversation_id == here and bv.battle.state is not BattleState.VOID:
                return bv.battle.id
        return None

    # ---- /arena board --------------------------------------------------------------------
    async def board(self, category: str | None) -> Response:
        battles = await self.battles.list_battles(category)
        # A thousand bootstrap fits: CPU work, off the event loop.
        board = await asyncio.to_thread(build_board, battles, category=category)
        if not board.rows:
            return Response(Reply(ReplyKind.TEXT, "No votes yet" + (f" for {category}" if category
                                                                     else "") +
                                  ": start a battle with `/arena <prompt>`."))
        return Response(Reply(ReplyKind.TEXT, "```\n" + board_text(board) + "\n```"))


def battle_context(scope: Scope, prompt: str, a: ArenaEntry, b: ArenaEntry
                   ) -> dict[str, Any] | None:
    """A battle's record (`ArenaTurns.resume_battle` draws it again from this); None when
    the channel has no delivery address to finish it through."""
    turn = scope.turn
    return resume_context(scope, kind="battle", prompt=prompt, entry_a=a.name, entry_b=b.name,
                          user_text=prompt, conversation_id=turn.conversation_id,
                          user_id=turn.user_id, tenant_id=turn.tenant_id)


def _conversation(scope: Scope) -> str:
    """The chat a battle belongs to (shared by everyone in a group chat or channel)."""
    turn = scope.turn
    return f"{turn.channel}:{turn.tenant_id or '-'}:{turn.conversation_id}"


def _remember(rec: ConversationRecord, battle_id: str) -> None:
    rec.battle_id = battle_id


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
