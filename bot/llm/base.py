"""The brain: a rewriter / router that answers in words or calls a tool.

Backends (rules, transformers, openai) implement `Brain`. The assistant gives the brain
the user's text, the recent history and the tool specs, and gets back a `Decision`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.errors import EaselError
from bot.llm.profiles import SD, PromptProfile
from tools.base import ToolSpec


class BrainError(EaselError):
    """A backend failed or answered something unusable; the caller falls back to rules."""


@dataclass(frozen=True, slots=True)
class HistoryItem:
    """One earlier image turn of this conversation."""

    user_text: str
    prompt: str  # the prompt actually used
    seed: int | None = None


@dataclass(slots=True)
class BrainRequest:
    text: str  # the user's words (commands already parsed away)
    history: list[HistoryItem] = field(default_factory=list)
    tools: list[ToolSpec] = field(default_factory=list)
    # When set, the brain must call this tool (e.g. `/imagine` forces generate_image and
    # only the prompt is rewritten).
    force_tool: str | None = None
    max_prompt_tokens: int = 77
    profile: PromptProfile = SD  # how the engine that will draw wants its prompt


@dataclass(slots=True)
class Decision:
    """Either `answer` (words) or a tool call (`tool` + `args`)."""

    answer: str | None = None
    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    backend: str = ""
    fallback_reason: str | None = None  # set when rules stood in for a failed backend
    repaired: str | None = None  # why the faithfulness check changed the prompt, if it did


class Brain(Protocol):
    name: str

    async def decide(self, req: BrainRequest) -> Decision: ...

    async def aclose(self) -> None: ...
