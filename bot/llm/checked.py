"""`FaithfulBrain`: every backend's rewrite goes through the faithfulness check.

Wraps any brain (rules, transformers, openai, their fallback): when a decision calls
`generate_image`, its prompt is checked against the user's words (bot/llm/faithful.py).
A prompt with problems is repaired; if the repair still fails the check, the prompt
becomes the literal rewrite (the user's subject as the rules brain reads it). The log
says which backend, what was wrong and what was sent instead.
"""

from __future__ import annotations

import asyncio
import logging

from bot.llm import faithful
from bot.llm import rules_request as rq
from bot.llm.base import Brain, BrainRequest, Decision
from bot.llm.common import fit_prompt
from tools.image_args import GENERATE_IMAGE_SPEC

log = logging.getLogger(__name__)

TOOL = GENERATE_IMAGE_SPEC.name


class FaithfulBrain:
    def __init__(self, inner: Brain) -> None:
        self.inner = inner
        self.name = inner.name
        self.repairs = 0  # prompts changed by the check (observability, benches)

    async def decide(self, req: BrainRequest) -> Decision:
        decision = await self.inner.decide(req)
        prompt = decision.args.get("prompt") if decision.tool == TOOL else None
        if not isinstance(prompt, str) or not prompt.strip():
            return decision
        # The scan is linear in the words but slow per word: not on the event loop.
        fixed, why = await asyncio.to_thread(enforce, req, prompt, decision.args.get("seed"))
        if why:
            self.repairs += 1
            log.info("%s rewrite repaired (%s): %r -> %r", decision.backend or self.name,
                     why, prompt, fixed)
            decision.args["prompt"] = fixed
            decision.repaired = why
        return decision

    async def aclose(self) -> None:
        await self.inner.aclose()


def enforce(req: BrainRequest, prompt: str, seed: object = None) -> tuple[str, str | None]:
    """The prompt to send, and why it differs from `prompt` (None when it does not).

    A decision that reuses an earlier picture's seed is a follow-up ("make it darker"):
    its words state a change, so only contradictions with them are checked."""
    follow_up = bool(req.history) and seed is not None and \
        seed in {h.seed for h in req.history}
    said = rq.strip_filler(" ".join(req.text.split())) if follow_up else \
        rq.request_subject(req.text)
    stated = faithful.Stated.read(said)
    problems = faithful.check(stated, prompt, follow_up=follow_up)
    if not problems:
        return prompt, None
    why = "; ".join(str(p) for p in problems)
    fixed = faithful.repair(stated, said, prompt, problems, follow_up=follow_up)
    if not follow_up and faithful.check(stated, fixed):
        fixed = said  # the literal rewrite: what the user asked for, nothing added
        why += "; replaced by the literal request"
    fixed = fit_prompt(fixed, req.max_prompt_tokens) or fixed
    if req.profile.style == "sentences" and not fixed.endswith("."):
        fixed = fixed[0].upper() + fixed[1:] + "."
    return fixed, why
