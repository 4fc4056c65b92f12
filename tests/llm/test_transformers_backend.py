"""Transformers backend on tiny chat models built in code (see conftest.py)."""

from __future__ import annotations

import asyncio

import pytest

from bot.llm.base import BrainError, BrainRequest, HistoryItem
from bot.llm.common import load_system_prompt
from bot.llm.fallback import FallbackBrain
from bot.llm.rules import RulesBrain
from bot.llm.transformers_backend import TransformersBrain

HISTORY = [HistoryItem("draw me a cat on a skateboard", "a cat on a skateboard", 42)]


@pytest.fixture(scope="module")
def wired(wired_model_dir) -> TransformersBrain:
    return TransformersBrain.load(str(wired_model_dir), max_concurrency=1)


@pytest.fixture(scope="module")
def random_brain(random_model_dir) -> TransformersBrain:
    return TransformersBrain.load(str(random_model_dir))


def test_prompt_renders_system_rules_tools_and_history(wired):
    text = wired.render(BrainRequest(text="now make it at night", history=HISTORY))
    assert text.startswith("<|system|> " + load_system_prompt(77)[:40])
    assert '"name": "generate_image"' in text and '"negative_prompt"' in text
    assert '"seed": 42' in text  # the earlier call, as the template renders tool calls
    assert text.endswith("<|user|> now make it at night <|end|> <|assistant|>")


async def test_generation_is_parsed_into_a_tool_call(wired):
    d = await wired.decide(BrainRequest(text="now make it at night", history=HISTORY))
    assert d.backend == "transformers" and d.tool == "generate_image"
    assert d.args == {"prompt": "a cat riding skateboard at night", "n": 1, "seed": 42}


async def test_concurrent_turns_share_the_model(wired):
    reqs = [BrainRequest(text=f"turn {i}") for i in range(3)]
    decisions = await asyncio.gather(*(wired.decide(r) for r in reqs))
    assert {d.args["prompt"] for d in decisions} == {"a cat riding skateboard at night"}


async def test_random_weights_give_garbage_and_an_error(random_brain):
    text, _ = random_brain.generate(BrainRequest(text="draw a cat"))
    assert text  # it does generate something...
    with pytest.raises(BrainError):  # ...but nothing usable
        await random_brain.decide(BrainRequest(text="draw a cat", force_tool="generate_image"))


async def test_garbage_falls_back_to_rules(random_brain, caplog):
    fb = FallbackBrain(random_brain, RulesBrain())
    for req in (BrainRequest(text="draw me a cat on a skateboard"),
                BrainRequest(text="a cat on a skateboard", force_tool="generate_image")):
        d = await fb.decide(req)
        assert d.backend == "rules" and d.fallback_reason
        assert "cat" in d.args["prompt"] and "skateboard" in d.args["prompt"]
    assert any("transformers brain unusable" in r.getMessage() for r in caplog.records)


def test_tokenizer_without_chat_template_is_refused(random_model_dir):
    brain = TransformersBrain.load(str(random_model_dir))
    brain.tokenizer.chat_template = None
    with pytest.raises(ValueError, match="chat_template"):
        TransformersBrain(brain.model, brain.tokenizer)
