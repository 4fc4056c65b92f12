"""Channel-neutral turn and reply types.

Every channel (Teams, Discord, web, terminal) converts its wire format into a `Turn`,
hands it to the `Assistant`, and renders the `Reply` it gets back. Nothing here knows
about botbuilder or Discord.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

# What the image tools deliver and how they report progress are theirs (tools/ never
# imports bot/); channels know them through this module.
from tools.base import DeliveredImage, ProgressSink

__all__ = ["MAX_TEXT_CHARS", "Claims", "DeliveredImage", "ProgressSink", "Reply", "ReplyKind",
           "Response", "Turn", "clean_text"]

# The longest message easel reads, in every channel (the web page's box says the same). A
# picture needs a sentence or two, and every check and rewrite of the words costs time in
# proportion to them; Teams would allow about 28 KB, Discord's command option 6,000.
MAX_TEXT_CHARS = 4000
# C0 and C1 controls but tab and newline, and lone surrogates (JSON can carry "\ud800",
# which no store can encode): nothing a person typed, and NUL breaks logs and terminals.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_text(text: str) -> str:
    """The user's words without control characters; line breaks become newlines."""
    return _CONTROLS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


@dataclass(frozen=True, slots=True)
class Turn:
    """One incoming user message, already stripped of channel noise (mentions, markup)."""

    channel: str  # "teams", "discord", "web", "cli"
    conversation_id: str
    user_id: str
    text: str
    user_name: str | None = None
    is_group: bool = False  # group chat / channel: several users share the conversation
    tenant_id: str | None = None
    # The generation the user pointed at (a button under an image, a reply to an image
    # message); commands like "/vary 2" and "/edit 1 …" then act on it instead of the latest.
    reference: str | None = None
    # Images the user attached (already downloaded and checked by the channel).
    attachments: tuple[bytes, ...] = ()
    # A mask the user drew over the referenced (or current) picture: image bytes, white
    # (or opaque) where to change. With an instruction it makes a region edit.
    mask: bytes | None = field(default=None, repr=False)
    # Where the turn's reply goes, as plain data, for a bot process that finishes the
    # job after this one died (bot/pipeline/recovery.py): {"channel": ..., address fields}. The
    # channel may add to it (the id of its "working" message) until the job is queued.
    delivery: dict | None = field(default=None, compare=False, hash=False)

    def __post_init__(self) -> None:
        # Whichever channel built it, a turn's words are clean before anything reads them.
        object.__setattr__(self, "text", clean_text(self.text))


class ReplyKind(StrEnum):
    TEXT = "text"  # a plain answer (help, chat)
    IMAGES = "images"  # generated images
    REFUSAL = "refusal"  # the safety gate refused; text explains why
    ERROR = "error"  # something failed; text tells the user what to do
    CANCELLED = "cancelled"  # the user cancelled the job before it finished
    LIMITED = "limited"  # a quota was hit; nothing was queued (see retry_after_s)


@dataclass(slots=True)
class Reply:
    kind: ReplyKind
    text: str
    images: list[DeliveredImage] = field(default_factory=list)
    prompt: str | None = None  # the prompt actually sent to the engine
    user_prompt: str | None = None  # what the user asked for
    steps: int | None = None
    withheld: int = 0  # images withheld by the safety gate
    generation_id: str | None = None  # the stored generation, for buttons that act on it
    retry_after_s: float | None = None  # LIMITED: when the user may try again
    engine: str | None = None  # IMAGES: the named engine that drew them (several configured)
    battle_id: str | None = None  # IMAGES: an arena battle (A and B, names hidden): vote on it
    job_id: str | None = None  # the image job it answers: its one delivery is claimed by id


@dataclass(slots=True)
class Response:
    """What the assistant does with a turn.

    `immediate` is sent inside the channel's request (help text, or "working on it").
    `followup`, when set, produces the final reply later; channels deliver it
    proactively (Teams `continue_conversation`, Discord webhook) so no request is held
    open while an image is generated.
    """

    immediate: Reply | None  # None: nothing to say yet (a typing indicator only)
    followup: Callable[[ProgressSink | None], Awaitable[Reply]] | None = None
    typing: bool = False  # show a typing indicator before `immediate`


class Claims(Protocol):
    """The right to post a job's one reply, taken once per job id by whichever process
    finishes it (imaging/jobs/records.py: a claim in Redis)."""

    async def claim(self, job_id: str) -> bool: ...
