"""The gate: policy decisions, fail-closed behaviour, refusals and the audit log."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import aiohttp
import pytest
from PIL import Image, ImageDraw

from safety.audit import (
    AuditLog,
    JsonlAuditSink,
    MemoryAuditSink,
    RedisStreamAuditSink,
    hash_user_id,
)
from safety.config import GateConfig, SafetyPolicy
from safety.embedding import EmbeddingHead
from safety.factory import build_gate
from safety.gate import SafetyGate, refusal_message, withheld_message
from safety.image import NudeNetClassifier
from safety.policy import Category, Verdict
from safety.remote import OpenAIModerationClassifier
from safety.terms import TermRules
from safety.text import HEAD_PATH, LayeredTextClassifier


@pytest.fixture
def rules_only(rules: TermRules) -> LayeredTextClassifier:
    return LayeredTextClassifier(rules, head=None)


@pytest.fixture
def memory_audit() -> AuditLog:
    return AuditLog(MemoryAuditSink(), salt="pepper")


async def test_input_and_prompt_checkpoints(rules_only, memory_audit) -> None:
    gate = SafetyGate(rules_only, NudeNetClassifier(), SafetyPolicy.load(), memory_audit)
    assert (await gate.check_text("a watercolor fox", "input", "u1")).allowed
    verdict = await gate.check_text("a n.u.d.e woman", "prompt", "u1")
    assert not verdict.allowed and verdict.category is Category.SEXUAL and not verdict.error
    (record,) = memory_audit.sink.records
    assert record.checkpoint == "prompt" and record.category == "sexual"
    assert record.user == hash_user_id("u1", "pepper") != "u1"


async def test_strictness_applies_per_call(rules_only) -> None:
    gate = SafetyGate(rules_only, None, SafetyPolicy.load())
    assert (await gate.check_text("a sexy pose in a ball gown", "input", "u", "standard")).allowed
    strict = await gate.check_text("a sexy pose in a ball gown", "input", "u", "strict")
    assert not strict.allowed and strict.category is Category.SEXUAL


async def test_policy_allow_action_is_respected_but_minors_never(rules_only) -> None:
    policy = SafetyPolicy.model_validate({"categories": {"violence": {"action": "allow"}, "sexual": {"action": "allow"}}})
    gate = SafetyGate(rules_only, None, policy)
    assert (await gate.check_text("a decapitated zombie, gore", "input", "u")).allowed
    minors = await gate.check_text("a naked child", "input", "u")
    assert not minors.allowed and minors.category is Category.SEXUAL_MINORS


async def test_classifier_failure_fails_closed(rules, tmp_path: Path, memory_audit) -> None:
    # A real classifier whose model folder is missing: loading raises inside classify().
    broken = LayeredTextClassifier(rules, EmbeddingHead.from_files(HEAD_PATH, model_dir=tmp_path / "missing"))
    gate = SafetyGate(broken, None, SafetyPolicy.load(), memory_audit)
    verdict = await gate.check_text("a watercolor fox", "input", "u2")
    assert not verdict.allowed and verdict.error
    assert "classifier error" in verdict.reason
    message = refusal_message(verdict)
    assert "safety check" in message and "try again" in message
    assert memory_audit.sink.records[0].error


async def test_remote_error_fails_closed_for_images_too() -> None:
    async with aiohttp.ClientSession() as session:
        # Nothing listens on port 9 of loopback: the connection is refused.
        remote = OpenAIModerationClassifier(session, "http://127.0.0.1:9/v1", "k", timeout_s=2)
        gate = SafetyGate(remote, None, SafetyPolicy.load())
        assert (await gate.check_text("hello", "input", "u")).error
        images = [Image.new("RGB", (64, 64), "white")] * 2
        verdicts = await gate.check_images(images, "u")
        assert [v.error for v in verdicts] == [True, True]
        assert "could not be completed" in withheld_message(verdicts)


async def test_missing_classifier_fails_closed() -> None:
    gate = SafetyGate(None, None, SafetyPolicy.load())
    assert (await gate.check_text("hello", "input", "u")).error
    assert all(v.error for v in await gate.check_images([Image.new("RGB", (8, 8))], "u"))


@pytest.mark.parametrize("category", list(Category))
def test_refusal_names_category_and_never_echoes(category: Category) -> None:
    secret = "a very specific forbidden phrase 123"
    verdict = Verdict(allowed=False, category=category, scores={category.value: 1.0}, reason=f"rule:{secret}")
    message = refusal_message(verdict)
    assert secret not in message and "123" not in message
    assert len(message) < 400
    if category is not Category.SEXUAL_MINORS:
        assert "rephras" in message
    label = {"sexual/minors": "minors", "self-harm": "self-harm", "illegal": "illegal", "hate": "hateful",
             "violence": "violence", "harassment": "harassment", "sexual": "sexual"}[category.value]
    assert label in message


def test_withheld_message_counts_images() -> None:
    ok = Verdict(allowed=True)
    bad = Verdict(allowed=False, category=Category.SEXUAL)
    assert withheld_message([ok, ok]) is None
    assert withheld_message([ok, bad, ok]).startswith("1 of 3 images were withheld because it looked like sexual content")
    assert withheld_message([bad]).startswith("The image was withheld")


async def test_flagged_image_withheld_siblings_delivered(memory_audit) -> None:
    # A real NudeNet classifier with a deliberately low threshold so a benign shape trips it:
    # the gate must withhold that image only.
    classifier = NudeNetClassifier({"BUTTOCKS_EXPOSED": 0.3})
    gate = SafetyGate(None, classifier, SafetyPolicy.load(), memory_audit)
    plain = Image.new("RGB", (256, 256), (90, 140, 200))
    blob = Image.new("RGB", (512, 512), "white")
    ImageDraw.Draw(blob).ellipse((106, 56, 406, 456), fill=(225, 170, 140))
    verdicts = await gate.check_images([plain, blob, plain], "u3")
    assert [v.allowed for v in verdicts] == [True, False, True]
    assert [r.checkpoint for r in memory_audit.sink.records] == ["output"]


async def test_disabled_gate_passes_everything_and_logs_loudly(caplog) -> None:
    with caplog.at_level(logging.CRITICAL, logger="safety.gate"):
        gate = SafetyGate.disabled()
    assert "SAFETY GATE DISABLED" in caplog.text
    assert (await gate.check_text("a naked child", "input", "u")).allowed
    assert (await gate.check_images([Image.new("RGB", (8, 8))], "u"))[0].allowed


def test_factory_honours_dangerously_disable_safety(caplog, tmp_path: Path) -> None:
    config = GateConfig(dangerously_disable_safety=True, audit_path=tmp_path / "a.jsonl", audit_salt="s")
    with caplog.at_level(logging.CRITICAL):
        gate = build_gate(config)
    assert not gate.enabled and "DISABLED" in caplog.text


async def test_factory_builds_the_default_local_gate(tmp_path: Path) -> None:
    audit_path = tmp_path / "audit" / "safety.jsonl"
    gate = build_gate(GateConfig(audit_path=audit_path, audit_salt="salt"))
    assert isinstance(gate.text_classifier, LayeredTextClassifier)
    assert isinstance(gate.image_classifier, NudeNetClassifier)
    verdict = await gate.check_text("kill all the jews", "input", "user-42")
    assert verdict.category is Category.HATE
    (line,) = audit_path.read_text().splitlines()
    record = json.loads(line)
    assert record["user"] == hash_user_id("user-42", "salt") and "user-42" not in line
    assert record["checkpoint"] == "input" and record["category"] == "hate"
    assert record["scores"]["hate"] == 1.0 and record["timestamp"].endswith("+00:00")


async def test_jsonl_audit_appends(tmp_path: Path) -> None:
    audit = AuditLog(JsonlAuditSink(tmp_path / "audit.jsonl"), salt="x")
    for i in range(3):
        await audit.record(user_id=f"u{i}", checkpoint="input", verdict=Verdict(False, Category.HATE, {"hate": 0.9}))
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert len(lines) == 3 and len({json.loads(x)["user"] for x in lines}) == 3


async def test_redis_stream_audit(redis_client) -> None:
    audit = AuditLog(RedisStreamAuditSink(redis_client, stream="test:safety:audit"), salt="s")
    await audit.record(user_id="alice", checkpoint="output", verdict=Verdict(False, Category.SEXUAL, {"BUTTOCKS_EXPOSED": 0.7}))
    ((_, fields),) = await redis_client.xrange("test:safety:audit")
    fields = {k.decode(): v.decode() for k, v in fields.items()}
    assert fields["user"] == hash_user_id("alice", "s") and fields["checkpoint"] == "output"
    assert json.loads(fields["scores"]) == {"BUTTOCKS_EXPOSED": 0.7}
