from __future__ import annotations

import json
from pathlib import Path

import pytest

from safety.config import SafetyPolicy, decide
from safety.policy import Category


def test_packaged_policy_loads() -> None:
    policy = SafetyPolicy.load()
    assert set(policy.categories) == set(Category)
    assert policy.threshold(Category.VIOLENCE) == pytest.approx(0.5)
    assert policy.image_thresholds["BUTTOCKS_EXPOSED"] > 0.48  # above a plain skin ellipse


@pytest.mark.parametrize(
    "override",
    [
        {"action": "allow"},
        {"threshold": 0.9},
        {"action": "allow", "threshold": 0.1},
    ],
)
def test_sexual_minors_cannot_be_configured_off_or_looser(override: dict, tmp_path: Path) -> None:
    doc = json.loads(SafetyPolicy.load().model_dump_json())
    doc["categories"]["sexual/minors"] = override
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="sexual/minors"):
        SafetyPolicy.load(path)
    with pytest.raises(ValueError, match="sexual/minors"):
        SafetyPolicy.model_validate(doc)


def test_relaxed_strictness_never_relaxes_minors() -> None:
    policy = SafetyPolicy.load()
    assert policy.threshold(Category.SEXUAL, "relaxed") > policy.threshold(Category.SEXUAL)
    assert policy.threshold(Category.SEXUAL_MINORS, "relaxed") == policy.threshold(Category.SEXUAL_MINORS)
    assert policy.threshold(Category.SEXUAL_MINORS, "strict") < policy.threshold(Category.SEXUAL_MINORS)


def test_other_categories_can_be_allowed() -> None:
    policy = SafetyPolicy.model_validate({"categories": {"violence": {"action": "allow"}}})
    assert policy.decide({"violence": 0.99}).allowed
    assert not policy.decide({"hate": 0.99}).allowed


def test_unknown_strictness_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown strictness level 'lenient'"):
        SafetyPolicy.load().threshold(Category.SEXUAL, "lenient")


def test_strictness_moves_the_line() -> None:
    policy = SafetyPolicy.load()
    scores = {"sexual": 0.45}  # e.g. a suggestive term alone
    assert policy.decide(scores, "standard").allowed
    assert not policy.decide(scores, "strict").allowed


def test_decide_prefers_minors_then_clearest_violation() -> None:
    thresholds = dict.fromkeys(Category, 0.5)
    assert decide({"sexual": 1.0, "sexual/minors": 0.6}, thresholds).category is Category.SEXUAL_MINORS
    assert decide({"violence": 0.6, "hate": 0.9}, thresholds).category is Category.HATE
    assert decide({"violence": 0.4}, thresholds).allowed
