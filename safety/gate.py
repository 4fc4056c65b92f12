"""The safety gate: the three checkpoints the assistant calls, failing closed.

1. `check_text(text, "input", ...)`  — the user's words, before any model sees them.
2. `check_text(prompt, "prompt", ...)` — the prompt actually sent to the engine.
3. `check_images(images, ...)`        — every output image; a flagged one is withheld.

Classifiers score; the policy (thresholds, actions, strictness) decides.  A classifier that
raises or returns nonsense yields a refusal with `error=True`, never a pass.  Every block is
written to the audit log.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from PIL import Image

from safety.audit import AuditLog, Checkpoint
from safety.config import SafetyPolicy
from safety.policy import Category, ImageClassifier, TextClassifier, Verdict

log = logging.getLogger(__name__)

CATEGORY_LABELS: dict[Category, str] = {
    Category.SEXUAL: "sexual content",
    Category.SEXUAL_MINORS: "sexual content involving minors",
    Category.VIOLENCE: "graphic violence",
    Category.HATE: "hateful content",
    Category.HARASSMENT: "harassment",
    Category.SELF_HARM: "self-harm",
    Category.ILLEGAL: "illegal activity",
}
# Someone who writes about self-harm may be asking for help, not for a picture: they get a
# short, kind answer that says where help is, not a refusal.  International by default
# (findahelpline.com lists free, confidential lines by country); operators can set their
# own text (`EASEL_SAFETY_SELF_HARM_MESSAGE`), e.g. with their country's line.
SELF_HARM_MESSAGE = (
    "I'm sorry you're going through something painful. I can't make images of self-harm, "
    "but you don't have to face this alone: if you might act on these thoughts, call your "
    "local emergency number now. You can find a free, confidential helpline in your country "
    "at https://findahelpline.com, or talk to someone you trust. For a picture of something "
    "else, try rephrasing your request."
)


def refusal_message(verdict: Verdict, self_harm_message: str = SELF_HARM_MESSAGE) -> str:
    """A short, polite refusal: names the category, suggests a rephrase, never quotes the
    user's text (the verdict's `reason` is for the audit log only).  Self-harm gets the
    supportive `self_harm_message` instead."""
    if verdict.error:
        return (
            "Sorry, I couldn't complete the safety check just now, so I didn't go ahead. "
            "Please try again in a moment."
        )
    if verdict.category is None:
        return (
            "Sorry, I can't help with that request because it goes against the content policy. "
            "Try rephrasing it."
        )
    label = CATEGORY_LABELS[verdict.category]
    if verdict.category is Category.SEXUAL_MINORS:
        return f"Sorry, I can't help with that: it looks like {label}, which is never allowed."
    if verdict.category is Category.SELF_HARM:
        return self_harm_message
    return (
        f"Sorry, I can't create that because it looks like it involves {label}. "
        "Try rephrasing it — describe the scene, style or mood you want without that part."
    )


def withheld_message(verdicts: list[Verdict]) -> str | None:
    """For checkpoint 3: what to tell the user when some images were withheld (or None)."""
    blocked = [v for v in verdicts if not v.allowed]
    if not blocked:
        return None
    n, total = len(blocked), len(verdicts)
    what = "the image was" if total == 1 else ("all images were" if n == total else f"{n} of {total} images were")
    if all(v.error for v in blocked):
        return f"Sorry, {what} withheld because the safety check could not be completed. Please try again."
    categories = {v.category for v in blocked if v.category is not None}
    why = f" because it looked like {CATEGORY_LABELS[categories.pop()]}" if len(categories) == 1 else ""
    return f"{what[0].upper()}{what[1:]} withheld{why}. You can try again or adjust the prompt."


class Gate(Protocol):
    """The three checkpoints as the bot calls them. `SafetyGate` is the one implementation;
    running without checks is `SafetyGate.disabled()` (`dangerously_disable_safety`),
    never a missing gate."""

    async def warm_up(self) -> None: ...

    async def check_text(self, text: str, checkpoint: Checkpoint, user_id: str,
                         strictness: str | None = None) -> Verdict: ...

    async def check_images(self, images: list[Image.Image], user_id: str,
                           strictness: str | None = None) -> list[Verdict]: ...

    def refusal_message(self, verdict: Verdict) -> str: ...

    def withheld_message(self, verdicts: list[Verdict]) -> str | None: ...


def _error_verdict(exc: BaseException, where: str) -> Verdict:
    return Verdict(allowed=False, reason=f"classifier error at {where}: {type(exc).__name__}", error=True)


class SafetyGate:
    def __init__(
        self,
        text_classifier: TextClassifier | None,
        image_classifier: ImageClassifier | None,
        policy: SafetyPolicy,
        audit: AuditLog | None = None,
        *,
        enabled: bool = True,
        self_harm_message: str = SELF_HARM_MESSAGE,
    ) -> None:
        self.text_classifier = text_classifier
        self.image_classifier = image_classifier
        self.policy = policy
        self.audit = audit
        self.enabled = enabled
        self.self_harm_message = self_harm_message

    @classmethod
    def disabled(cls, policy: SafetyPolicy | None = None, audit: AuditLog | None = None) -> SafetyGate:
        """`dangerously_disable_safety`: every check passes.  Logs loudly, once, here."""
        log.critical(
            "SAFETY GATE DISABLED (dangerously_disable_safety=true): user text, prompts and "
            "generated images are NOT checked. Never run a public deployment like this."
        )
        return cls(None, None, policy or SafetyPolicy(), audit, enabled=False)

    async def warm_up(self) -> None:
        """Load local models now (in a worker thread) instead of on the first request."""
        for classifier in (self.text_classifier, self.image_classifier):
            warm = getattr(classifier, "warm_up", None)
            if warm is not None:
                await asyncio.to_thread(warm)

    def _decide(self, verdict: Verdict, strictness: str | None) -> Verdict:
        if verdict.error:
            return verdict
        if not verdict.allowed and verdict.category is None:
            return verdict  # an opaque block (e.g. an operator blocklist hit) stands
        return self.policy.decide(verdict.scores, strictness, verdict.reason)

    async def _audit(self, user_id: str, checkpoint: Checkpoint, verdict: Verdict) -> None:
        if not verdict.allowed and self.audit is not None:
            await self.audit.record(user_id=user_id, checkpoint=checkpoint, verdict=verdict)

    async def check_text(
        self, text: str, checkpoint: Checkpoint, user_id: str, strictness: str | None = None
    ) -> Verdict:
        if not self.enabled:
            return Verdict(allowed=True, reason="safety disabled")
        try:
            if self.text_classifier is None:
                raise RuntimeError("no text classifier configured")
            verdicts = await self.text_classifier.classify([text])
            if len(verdicts) != 1:
                raise RuntimeError(f"text classifier returned {len(verdicts)} verdicts for 1 text")
            verdict = self._decide(verdicts[0], strictness)
        except Exception as exc:  # noqa: BLE001 - fail closed on *any* classifier failure
            log.exception("text safety check failed at %s", checkpoint)
            verdict = _error_verdict(exc, checkpoint)
        await self._audit(user_id, checkpoint, verdict)
        return verdict

    async def check_images(
        self, images: list[Image.Image], user_id: str, strictness: str | None = None
    ) -> list[Verdict]:
        if not self.enabled:
            return [Verdict(allowed=True, reason="safety disabled") for _ in images]
        if not images:
            return []
        try:
            if self.image_classifier is None:
                raise RuntimeError("no image classifier configured")
            raw = await self.image_classifier.classify(images)
            if len(raw) != len(images):
                raise RuntimeError(f"image classifier returned {len(raw)} verdicts for {len(images)} images")
            verdicts = [v if v.error or (not v.allowed and v.category is None) else self._decide_image(v, strictness) for v in raw]
        except Exception as exc:  # noqa: BLE001 - fail closed: withhold every image
            log.exception("image safety check failed")
            verdicts = [_error_verdict(exc, "output") for _ in images]
        for verdict in verdicts:
            await self._audit(user_id, "output", verdict)
        return verdicts

    def _decide_image(self, verdict: Verdict, strictness: str | None) -> Verdict:
        # NudeNet verdicts carry detector label scores, not our category scale: keep their
        # decision, but respect an operator who set the category's action to "allow".
        if verdict.category is not None and self.policy.categories[verdict.category].action == "allow":
            return Verdict(allowed=True, scores=verdict.scores, reason=verdict.reason)
        if any(key in self.policy.categories for key in verdict.scores):
            return self._decide(verdict, strictness)  # remote classifiers: our category scale
        return verdict

    def refusal_message(self, verdict: Verdict) -> str:
        return refusal_message(verdict, self.self_harm_message)

    withheld_message = staticmethod(withheld_message)
