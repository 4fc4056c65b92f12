"""Safety categories and verdicts shared by every classifier and the gate."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from PIL import Image


class Category(StrEnum):
    SEXUAL = "sexual"
    SEXUAL_MINORS = "sexual/minors"
    VIOLENCE = "violence"
    HATE = "hate"
    HARASSMENT = "harassment"
    SELF_HARM = "self-harm"
    ILLEGAL = "illegal"


@dataclass(slots=True)
class Verdict:
    allowed: bool
    category: Category | None = None  # the category that blocked, when not allowed
    scores: dict[str, float] = field(default_factory=dict)
    reason: str = ""  # for logs and audit, never shown to the user verbatim
    # True when the check itself failed (classifier error, timeout): the gate refuses, and the
    # refusal says the check failed rather than blaming the user's words.
    error: bool = False


class TextClassifier(Protocol):
    async def classify(self, texts: list[str]) -> list[Verdict]: ...


class ImageClassifier(Protocol):
    async def classify(self, images: list[Image.Image]) -> list[Verdict]: ...
