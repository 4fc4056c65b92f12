"""One user's bad text must not fail the safety check of the others batched with it.

Text the tokenizer cannot take (lone surrogates from JSON escapes) is cleaned before the
encoder, and any failure of a merged batch reaches only the callers that cause it."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from safety.audit import AuditLog, MemoryAuditSink
from safety.batching import MicroBatcher
from safety.config import SafetyPolicy
from safety.embedding import EmbeddingHead, utf8_safe
from safety.gate import SafetyGate
from safety.policy import Category
from safety.text import LayeredTextClassifier

LONE = "\ud800"  # what json.loads makes of the escape "\\ud800"


class TokenizerLike:
    """A batch function that, like `tokenizers`' encode_batch, fails the whole call when one
    item cannot be encoded; it records every call."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, items: list[str]) -> list[str]:
        self.calls.append(list(items))
        for item in items:
            item.encode("utf-8")
        return [s.upper() for s in items]


async def test_a_poisoned_caller_fails_alone_and_the_others_get_results() -> None:
    run = TokenizerLike()
    batcher = MicroBatcher(run)
    texts = ["a fox", "a boat", "a cat", f"make it blue {LONE}", "a tree", "a lake"]
    results = await asyncio.gather(*(batcher([t]) for t in texts), return_exceptions=True)
    assert isinstance(results[3], UnicodeEncodeError)
    assert [r for i, r in enumerate(results) if i != 3] == [["A FOX"], ["A BOAT"], ["A CAT"], ["A TREE"], ["A LAKE"]]
    assert len(run.calls[0]) == 6  # they did share one call first


async def test_isolating_one_bad_caller_in_64_takes_a_few_calls_not_64() -> None:
    run = TokenizerLike()
    batcher = MicroBatcher(run)
    texts = [f"text {i}" for i in range(64)]
    texts[41] += LONE
    results = await asyncio.gather(*(batcher([t]) for t in texts), return_exceptions=True)
    assert [i for i, r in enumerate(results) if isinstance(r, Exception)] == [41]
    assert all(r == [t.upper()] for i, (t, r) in enumerate(zip(texts, results, strict=True)) if i != 41)
    assert batcher.batches == len(run.calls) <= 1 + 2 * 6  # one call, then halves down to one


async def test_two_bad_callers_each_fail_alone() -> None:
    batcher = MicroBatcher(TokenizerLike())
    texts = [f"ok {i}" for i in range(10)]
    texts[0] += LONE
    texts[9] += LONE
    results = await asyncio.gather(*(batcher([t]) for t in texts), return_exceptions=True)
    assert [isinstance(r, UnicodeEncodeError) for r in results] == [True] + [False] * 8 + [True]


async def test_a_caller_with_one_bad_item_among_several_fails_as_a_whole() -> None:
    batcher = MicroBatcher(TokenizerLike())
    mixed = batcher(["fine", f"bad {LONE}", "also fine"])
    other = batcher(["x", "y"])
    results = await asyncio.gather(mixed, other, return_exceptions=True)
    assert isinstance(results[0], UnicodeEncodeError)
    assert results[1] == ["X", "Y"]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("a watercolour fox", "a watercolour fox"),
        (f"/edit make it blue {LONE}", "/edit make it blue "),
        ("\udc00 trailing low half", " trailing low half"),
        ("a pair kept apart \ud83d\ude00", "a pair kept apart \U0001f600"),
        (f"na{LONE}ked", "naked"),  # dropped, not replaced: the word stays whole for the rules
        (f"a real \ufffd stays {LONE}", "a real \ufffd stays "),
    ],
)
def test_utf8_safe(raw: str, clean: str) -> None:
    assert utf8_safe(raw) == clean
    clean.encode("utf-8")


def test_the_encoder_takes_a_lone_surrogate(classifier: LayeredTextClassifier) -> None:
    encoder = classifier.head.encoder
    bad, good = encoder.encode([f"make it blue {LONE}", "make it blue"])
    assert np.abs(bad - good).max() < 1e-5


def test_a_surrogate_inside_a_word_does_not_hide_it_from_the_rules(classifier) -> None:
    plain, split = classifier.classify_sync(["a naked woman", f"a na{LONE}ked woman"])
    assert not plain.allowed and plain.category is Category.SEXUAL
    assert (split.allowed, split.category, split.error) == (False, Category.SEXUAL, False)


def fresh(classifier: LayeredTextClassifier, head: EmbeddingHead | None = None) -> LayeredTextClassifier:
    """The real rules and head with an empty score cache, so every text reaches the batch."""
    return LayeredTextClassifier(classifier.rules, head or classifier.head, classifier.thresholds)


def gate_for(text_classifier: LayeredTextClassifier) -> SafetyGate:
    return SafetyGate(text_classifier, None, SafetyPolicy.load(), AuditLog(MemoryAuditSink(), salt="s"))


async def test_a_lone_surrogate_turn_gets_a_verdict_and_others_are_unharmed(classifier) -> None:
    gate = gate_for(fresh(classifier))
    texts = [f"/edit make it blue {LONE}", "a lighthouse on a cliff at dusk", "an orange cat asleep on a sofa",
             f"{LONE}a bowl of ramen, studio light", "a red kite over green hills", "draw a naked child"]
    verdicts = await asyncio.gather(*(gate.check_text(t, "input", f"u{i}") for i, t in enumerate(texts)))
    assert not any(v.error for v in verdicts)
    assert [v.allowed for v in verdicts] == [True, True, True, True, True, False]
    assert verdicts[5].category is Category.SEXUAL_MINORS


class ExplodingHead(EmbeddingHead):
    """The real head, failing the whole call whenever one text holds "explode" (a stand-in
    for any other per-text failure the cleaning does not foresee)."""

    def __init__(self, real: EmbeddingHead) -> None:
        super().__init__(real.encoder, real.head)

    def scores(self, texts):
        if any("explode" in t for t in texts):
            raise ValueError("this text breaks the encoder")
        return super().scores(texts)


async def test_the_gate_fails_closed_only_for_the_turn_that_failed(classifier) -> None:
    gate = gate_for(fresh(classifier, ExplodingHead(classifier.head)))
    texts = ["a sailing boat in a storm", "please explode the encoder", "a snowy mountain village",
             "a bowl of cherries on a table"]
    verdicts = await asyncio.gather(*(gate.check_text(t, "input", f"u{i}") for i, t in enumerate(texts)))
    failed = verdicts[1]
    assert (failed.allowed, failed.error) == (False, True) and "ValueError" in failed.reason
    assert all(v.allowed and not v.error for i, v in enumerate(verdicts) if i != 1)
