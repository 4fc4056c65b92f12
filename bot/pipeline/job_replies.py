"""What the user hears about an image job that could not be made, and what a job record
keeps so another bot process can finish a turn (bot/pipeline/recovery.py)."""

from __future__ import annotations

import logging
from typing import Any

from bot.pipeline.scope import Scope
from bot.turn import Reply, ReplyKind
from imaging.engine import ContentRefused, EngineBusy, GenerationError
from imaging.jobs import JobCancelled, QuotaExceeded
from tools.base import ToolError

log = logging.getLogger(__name__)


def failure_reply(exc: ToolError | QuotaExceeded | JobCancelled | GenerationError,
                  conversation_id: str) -> Reply:
    """What the user hears when an image job could not be made."""
    if isinstance(exc, ToolError):
        return Reply(ReplyKind.ERROR, _sentence(str(exc)))
    if isinstance(exc, QuotaExceeded):
        return Reply(ReplyKind.LIMITED, str(exc), retry_after_s=exc.retry_after_s)
    if isinstance(exc, ContentRefused):
        return Reply(ReplyKind.REFUSAL, f"{exc.provider}'s content policy declined this "
                                        "request, so nothing was made. Try describing it "
                                        "differently.")
    if isinstance(exc, EngineBusy):
        wait = exc.retry_after_s or 30.0
        return Reply(ReplyKind.LIMITED, f"Sorry, {exc}. Please try again in about "
                                        f"{max(1, round(wait))} s.", retry_after_s=wait)
    if isinstance(exc, JobCancelled):
        return Reply(ReplyKind.CANCELLED, "Cancelled — nothing was made. Describe a picture "
                                          "whenever you like.")
    # The runner logged the engine's traceback; here the user hears about it.
    log.warning("generation failed for %s: %s", conversation_id, exc)
    return Reply(ReplyKind.ERROR, f"Sorry, I couldn't make that image: {exc}. "
                                  "Please try again in a moment.")


def resume_context(scope: Scope, **finish: Any) -> dict[str, Any] | None:
    """What a bot process needs to finish this turn's job if this one dies (the job
    record's context): where to deliver, whose record, and how to record the result."""
    if scope.turn.delivery is None:
        return None
    turn = scope.turn
    return {"delivery": turn.delivery, "key": scope.key, "user_key": scope.user_key,
            "strictness": scope.strictness, "channel": turn.channel, **finish}


def _sentence(text: str) -> str:
    """A tool's message as a reply: capitalised, with a full stop."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")")) else text + "."
