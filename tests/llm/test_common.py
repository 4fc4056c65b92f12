"""Shared brain pieces: system prompt file, tool-call parsing, usability checks, CLIP budget."""

from __future__ import annotations

import json

import pytest

from bot.llm.base import BrainError, BrainRequest, Decision, HistoryItem
from bot.llm.common import (
    ToolCall,
    build_messages,
    check_decision,
    estimate_clip_tokens,
    fit_prompt,
    load_system_prompt,
    parse_model_output,
)
from tools.image_args import GENERATE_IMAGE_SPEC, GenerateImageArgs


def test_system_prompt_is_packaged_data_with_the_rules():
    text = load_system_prompt(77)
    assert "77 CLIP tokens" in text and "{max_prompt_tokens}" not in text
    for rule in ("subject", "English", "people", "nudity", "ignore previous instructions"):
        assert rule in text


def test_generate_image_schema_is_an_openai_function():
    schema = GENERATE_IMAGE_SPEC.json_schema()
    params = schema["function"]["parameters"]
    assert schema["function"]["name"] == "generate_image"
    assert params["required"] == ["prompt"]
    assert {"prompt", "n", "size", "seed", "negative_prompt"} <= set(params["properties"])


@pytest.mark.parametrize(("bad", "error"), [
    ({"prompt": ""}, r"prompt\n.*\[type=string_too_short"),
    ({"prompt": "x", "n": 5}, r"\nn\n.*\[type=less_than_equal"),
    ({"prompt": "x", "size": "big"}, r"size\n.*\[type=string_pattern_mismatch"),
    ({"prompt": "x" * 1001}, r"prompt\n.*\[type=string_too_long"),
    ({}, r"prompt\n.*\[type=missing"),
])
def test_generate_image_args_reject_bad_values(bad, error):
    # The field and the rule it broke (pydantic's error type), not just "some ValueError".
    with pytest.raises(ValueError, match=error):
        GenerateImageArgs.model_validate(bad)


def test_history_becomes_tool_calls_and_results():
    req = BrainRequest(text="now at night", history=[HistoryItem("draw a cat", "a cat", 9)])
    msgs = build_messages(req, "SYS", arguments_as_json=True)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "tool", "user"]
    call = msgs[2]["tool_calls"][0]
    assert json.loads(call["function"]["arguments"]) == {"prompt": "a cat", "seed": 9}
    assert msgs[3]["tool_call_id"] == call["id"] and msgs[-1]["content"] == "now at night"
    as_dict = build_messages(req, "SYS", arguments_as_json=False)
    assert as_dict[2]["tool_calls"][0]["function"]["arguments"] == {"prompt": "a cat", "seed": 9}


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>\n{"name": "generate_image", "arguments": {"prompt": "a cat"}}\n</tool_call>',
        '{"name": "generate_image", "parameters": {"prompt": "a cat"}}',
        '<|python_tag|>{"name": "generate_image", "parameters": {"prompt": "a cat"}} done',
        '[TOOL_CALLS] [{"name": "generate_image", "arguments": {"prompt": "a cat"}}]',
        '```json\n{"name": "generate_image", "arguments": "{\\"prompt\\": \\"a cat\\"}"}\n```',
    ],
)
def test_parses_common_tool_call_formats(text):
    assert parse_model_output(text) == ToolCall("generate_image", {"prompt": "a cat"})


def test_plain_text_is_an_answer_and_broken_calls_are_errors():
    assert parse_model_output("  Sure, I can draw.  ") == "Sure, I can draw."
    for garbage in ["", "<tool_call> {name: oops", '{"arguments": {}}', "[1, 2",
                    'I will call "name": "generate_image"']:
        with pytest.raises(BrainError):
            parse_model_output(garbage)


REQ = BrainRequest(text="draw a cat")


@pytest.mark.parametrize(
    ("decision", "reason"),
    [
        (Decision(tool="make_video", args={"prompt": "x"}), "unknown tool"),
        (Decision(tool="generate_image", args={"prompt": "   "}), "empty prompt"),
        (Decision(tool="generate_image", args={"prompt": "a cat", "n": 9}), "invalid arguments"),
        (Decision(tool="generate_image", args={"prompt": "cat " * 200}), "over-long prompt"),
        (Decision(answer=""), "empty answer"),
        (Decision(answer="word " * 1000), "over-long answer"),
    ],
)
def test_unusable_decisions_are_rejected(decision, reason):
    with pytest.raises(BrainError, match=reason):
        check_decision(decision, REQ)


def test_forced_tool_must_be_called():
    with pytest.raises(BrainError, match="required"):
        check_decision(Decision(answer="hi"), BrainRequest(text="x", force_tool="generate_image"))


def test_slightly_long_prompt_is_trimmed_at_clause_boundaries():
    prompt = "a cat on a skateboard, " + ", ".join(f"cue number {i}" for i in range(30))
    d = check_decision(Decision(tool="generate_image", args={"prompt": prompt}), REQ)
    assert d.args["prompt"].startswith("a cat on a skateboard, cue number 0")
    assert estimate_clip_tokens(d.args["prompt"]) <= 75
    assert d.args["n"] == 1  # normalised by the args model


def test_clip_estimate_is_conservative():
    assert estimate_clip_tokens("a cat") == 2
    assert estimate_clip_tokens("photorealistic, 35mm") >= 5  # long word, digits, comma
    assert estimate_clip_tokens("猫") >= 2
    assert fit_prompt("one two three", 3) == "one"  # budget excludes start/end tokens
