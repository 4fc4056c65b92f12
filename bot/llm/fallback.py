"""Fall back to the rules brain when an LLM backend fails or answers something unusable.

The user must still get an image when the LLM server is down, slow, or writes nonsense;
the warning says why, so operators can see how often their model is not pulling its weight.
"""

from __future__ import annotations

import asyncio
import logging

from bot.llm.base import Brain, BrainError, BrainRequest, Decision
from bot.llm.common import check_decision
from bot.llm.rules import RulesBrain

log = logging.getLogger(__name__)


class FallbackBrain:
    def __init__(self, primary: Brain, rules: RulesBrain, *, timeout_s: float | None = None) -> None:
        self.primary = primary
        self.rules = rules
        self.timeout_s = timeout_s
        self.name = primary.name

    async def decide(self, req: BrainRequest) -> Decision:
        try:
            decision = await asyncio.wait_for(self.primary.decide(req), self.timeout_s)
            return check_decision(decision, req)
        except BrainError as exc:
            reason = str(exc)
            log.warning("%s brain unusable, using rules: %s", self.primary.name, reason)
        except TimeoutError:
            reason = f"timed out after {self.timeout_s}s"
            log.warning("%s brain unusable, using rules: %s", self.primary.name, reason)
        except Exception as exc:  # a bug in a backend must not cost the user the turn...
            reason = f"{type(exc).__name__}: {exc}"
            # ...but it must stay visible, with its traceback.
            log.warning("%s brain failed, using rules: %s", self.primary.name, reason,
                        exc_info=True)
        decision = await self.rules.decide(req)
        decision.fallback_reason = reason
        return decision

    async def aclose(self) -> None:
        try:
            await self.primary.aclose()
        finally:
            await self.rules.aclose()
