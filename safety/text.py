"""The offline text classifier: normalisation, term rules, then the embedding head.

Layers, cheapest first:
1. `normalize` undoes evasion (look-alikes, leetspeak, spacing, zero-width characters).
2. `TermRules` — curated, explainable, high precision.  A hit scores 1.0.
3. `EmbeddingHead` — MiniLM sentence embeddings + a logistic regression per category,
   calibrated so 0.5 is the standard operating point; catches paraphrases and languages the
   term lists do not cover.  Skipped when a rule already blocks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from safety.batching import MicroBatcher
from safety.cache import ScoreCache, Scored, policy_version
from safety.config import STANDARD_THRESHOLD, decide
from safety.embedding import EmbeddingHead, LinearHead, MiniLMEncoder, utf8_safe
from safety.normalize import Normalized, normalize
from safety.policy import Category, Verdict
from safety.terms import DATA_DIR, RuleResult, TermRules

__all__ = [
    "EmbeddingHead",
    "LayeredTextClassifier",
    "LinearHead",
    "MiniLMEncoder",
    "TermRules",
    "HEAD_PATH",
]

log = logging.getLogger(__name__)

HEAD_PATH = DATA_DIR / "head.json"
# A suggestive term ("sexy", "lingerie") alone stays under the standard threshold but
# reaches the "strict" one (0.35).
SUGGESTIVE_SCORE = 0.45
# With a minor mentioned, a sexual score somewhat below the threshold already counts as
# sexual/minors: zero tolerance means erring towards refusal.
MINORS_SEXUAL_FACTOR = 1.25
# The head's own sexual/minors score counts only as far as the text also reads as sexual:
# otherwise it learns "a child" rather than "a sexualised child".
MINORS_NEEDS_SEXUAL = 1.25
# all-MiniLM-L6-v2 was trained on English; on text mostly in other scripts (Cyrillic, CJK,
# Arabic...) its embeddings are noise, so only the (multilingual) term rules judge those.
MIN_LATIN_SHARE = 0.5


# ... and on other Latin-script languages it is weak and prone to false alarms (Spanish
# "cortando leña" read as self-harm), while the term lists cover those languages' clear
# violations.  Text with no common English word gets its head scores scaled down, so only a
# confident head (raw >= 0.75 at the standard threshold) blocks it.
NON_ENGLISH_FACTOR = 2 / 3
ENGLISH_WORDS = frozenset(
    "a an the of with and or in on at to is are was for from by his her their my me i you it "
    "this that these draw make show photo picture image generate create painting portrait "
    "style man woman people girl boy person".split()
)


def looks_english(tokens: list[str]) -> bool:
    return len(tokens) < 3 or any(t in ENGLISH_WORDS for t in tokens)


def mostly_latin(text: str) -> bool:
    letters = [ch for ch in text if ch.isalpha()]
    return bool(letters) and sum(ch < "\u0250" for ch in letters) / len(letters) >= MIN_LATIN_SHARE


class LayeredTextClassifier:
    """Implements `TextClassifier`; `thresholds` default to the standard 0.5 per category.

    Only the first `max_chars` characters are judged: rule matching grows with length, the
    head reads 128 tokens anyway, and an image prompt is far shorter.  Anything a long
    message smuggles past the cut still has to come back through checkpoint 2 (the
    rewritten prompt) before it reaches the engine."""

    def __init__(
        self,
        rules: TermRules,
        head: EmbeddingHead | None,
        thresholds: Mapping[Category, float] | None = None,
        max_chars: int = 4000,
        *,
        cache_size: int = 4096,
        max_batch: int = 64,
    ) -> None:
        self.rules = rules
        self.head = head
        self.max_chars = max_chars
        self.thresholds = dict(thresholds or {c: STANDARD_THRESHOLD for c in Category})
        self.cache = ScoreCache(cache_size)
        self.batcher: MicroBatcher[str, Verdict] = MicroBatcher(self.classify_sync, max_batch=max_batch)
        head_parts: list[str | bytes] = ["no head"]
        if head is not None:
            head_parts = [head.head.weight.tobytes(), head.head.bias.tobytes(), head.encoder.runtime,
                          str(head.encoder.quantized)]
        self.version = policy_version([
            rules.fingerprint, *head_parts, str(max_chars),
            ";".join(f"{c.value}={t:.6f}" for c, t in sorted(self.thresholds.items())),
        ])

    @classmethod
    def default(
        cls,
        head_path: Path = HEAD_PATH,
        model_dir: Path | None = None,
        thresholds: Mapping[Category, float] | None = None,
        encoder_threads: int | None = None,
        *,
        cache_size: int = 4096,
        max_batch: int = 64,
        model_cache_dir: Path | None = None,
    ) -> LayeredTextClassifier:
        """`model_cache_dir`: where the encoder's ONNX export is kept (see encoder_onnx)."""
        head = EmbeddingHead.from_files(head_path, model_dir, num_threads=encoder_threads,
                                        cache_dir=model_cache_dir)
        return cls(TermRules.from_dir(), head, thresholds, cache_size=cache_size, max_batch=max_batch)

    def warm_up(self) -> None:
        """Load the model now (blocking) rather than on the first request."""
        if self.head is not None:
            self.head.scores(["warm up"])

    def score(self, texts: list[str]) -> list[Scored]:
        """Blocking: per text, the category scores and a reason for the audit log.  Cached
        per normalised text; the same text twice in a batch is scored once."""
        # First of all, so rules and model judge the same text and the tokenizer cannot
        # raise on one user's text inside a batch shared with others.
        texts = [utf8_safe(t) for t in texts]
        out: list[Scored | None] = [self.cache.get((self.version, "raw", t[: self.max_chars])) for t in texts]
        todo: dict[tuple[str, ...], list[int]] = {}
        norms: dict[tuple[str, ...], Normalized] = {}
        for i, t in enumerate(texts):
            if out[i] is not None:
                continue
            norm = normalize(t[: self.max_chars])
            cached = self.cache.get((self.version, "norm", norm.variants))
            if cached is not None:
                out[i] = cached
                self.cache.put((self.version, "raw", t[: self.max_chars]), cached)
                continue
            todo.setdefault(norm.variants, []).append(i)
            norms[norm.variants] = norm
        if todo:
            keys = list(todo)
            for key, result in zip(keys, self._score_normalized([norms[k] for k in keys]), strict=True):
                self.cache.put((self.version, "norm", key), result)
                for i in todo[key]:
                    self.cache.put((self.version, "raw", texts[i][: self.max_chars]), result)
                    out[i] = (dict(result[0]), result[1])
        return [r for r in out if r is not None]

    def _score_normalized(self, norms: list[Normalized]) -> list[Scored]:
        results = [self.rules.scan(n) for n in norms]
        out: list[tuple[dict[str, float], str]] = []
        pending: list[int] = []
        for i, result in enumerate(results):
            scores, reason = self._rule_scores(result)
            out.append((scores, reason))
            # A rule hit already blocks, so the model is skipped — unless the hit is in a
            # category this deployment allows, where the model must still judge the rest.
            if not any(s >= 1.0 and Category(k) in self.thresholds for k, s in scores.items()):
                pending.append(i)
        # The head reads the text with allow-listed phrases blanked ("nude lipstick").
        masked = {i: self.rules.mask_allowed(norms[i].text) for i in pending}
        pending = [i for i in pending if mostly_latin(masked[i])]
        if self.head is not None and pending:
            head_scores = self.head.scores([masked[i] for i in pending])
            for i, model in zip(pending, head_scores, strict=True):
                scores, reason = out[i]
                if not looks_english(norms[i].tokens):
                    model = {c: p * NON_ENGLISH_FACTOR for c, p in model.items()}
                sexual = model.get(Category.SEXUAL, 0.0)
                model[Category.SEXUAL_MINORS] = min(
                    model.get(Category.SEXUAL_MINORS, 0.0), sexual * MINORS_NEEDS_SEXUAL
                )
                if results[i].minor is not None:
                    model[Category.SEXUAL_MINORS] = max(
                        model[Category.SEXUAL_MINORS], min(sexual * MINORS_SEXUAL_FACTOR, 1.0)
                    )
                for category, p in model.items():
                    scores[category.value] = max(scores.get(category.value, 0.0), round(p, 4))
                top = max(model, key=lambda c: model[c])
                out[i] = (scores, reason or f"model:{top.value}={model[top]:.2f}")
        return out

    @staticmethod
    def _rule_scores(result: RuleResult) -> tuple[dict[str, float], str]:
        scores = {c.value: 1.0 for c in result.hits}
        reasons = [f"rule:{c.value}:{term!r}" for c, term in result.hits.items()]
        if result.sexual_minors:
            scores[Category.SEXUAL_MINORS.value] = 1.0
            if Category.SEXUAL_MINORS not in result.hits:
                sexual = result.hits.get(Category.SEXUAL) or result.suggestive
                reasons.insert(0, f"rule:sexual/minors:{sexual!r}+{result.minor!r}")
        elif result.suggestive is not None:
            key = Category.SEXUAL.value
            scores[key] = max(scores.get(key, 0.0), SUGGESTIVE_SCORE)
            reasons.append(f"suggestive:{result.suggestive!r}")
        return scores, "; ".join(reasons)

    def classify_sync(self, texts: list[str]) -> list[Verdict]:
        return [decide(scores, self.thresholds, reason) for scores, reason in self.score(texts)]

    async def classify(self, texts: list[str]) -> list[Verdict]:
        # Tokenising and the forward pass are CPU-bound: a worker thread runs them, for
        # every text that is waiting at once (see safety.batching).
        return await self.batcher(texts)
