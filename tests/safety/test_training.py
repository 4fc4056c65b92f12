"""Pieces of the head's training script (the full run lives in `python -m safety.train_head`)."""

from __future__ import annotations

import numpy as np

from safety import datasets
from safety.datasets import Example
from safety.synthetic import benign_prompts
from safety.train_head import augment, choose_threshold, fit_logistic


def test_logistic_regression_separates_and_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    x = np.vstack([rng.normal(-1, 0.5, (50, 4)), rng.normal(1, 0.5, (50, 4))])
    y = np.r_[np.zeros(50), np.ones(50)]
    w1, b1 = fit_logistic(x, y, np.ones(100), l2=1.0)
    w2, b2 = fit_logistic(x, y, np.ones(100), l2=1.0)
    assert np.array_equal(w1, w2) and b1 == b2
    p = 1 / (1 + np.exp(-(x @ w1 + b1)))
    assert ((p > 0.5) == (y == 1)).mean() > 0.95


def test_threshold_respects_benign_fpr() -> None:
    scores = np.r_[np.linspace(0, 0.6, 1000), [0.9, 0.95]]
    benign = np.r_[np.ones(1000, bool), [False, False]]
    t = choose_threshold(scores, benign, target_fpr=0.01)
    assert (scores[benign] >= t).mean() <= 0.01


def test_split_is_stable_and_about_a_quarter() -> None:
    texts = [f"prompt number {i}" for i in range(2000)]
    held = [datasets.held_out(t) for t in texts]
    assert held == [datasets.held_out(t) for t in texts]
    assert 0.2 < sum(held) / len(held) < 0.3


def test_framing_is_added_to_benign_and_violations_alike() -> None:
    rows = [Example("a cat", frozenset(), "labelled", "plain"), Example("x", frozenset(), "parti")]
    out = augment(rows, np.random.default_rng(0))
    assert len(out) == 3 and out[2].source == "labelled" and not out[2].labels


def test_synthetic_benign_is_seeded() -> None:
    assert benign_prompts(50, 1) == benign_prompts(50, 1)


def test_labelled_file_is_well_formed() -> None:
    rows = datasets.load_labelled()
    assert len(rows) > 700
    kinds = {r.kind for r in rows if r.unsafe}
    assert {"plain", "obfuscated", "foreign", "framed", "paraphrase"} <= kinds
    assert len({r.text for r in rows}) == len(rows)
