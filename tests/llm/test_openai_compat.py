"""OpenAI-compatible backend against a loopback chat-completions server."""

from __future__ import annotations

import json

from bot.llm.base import BrainRequest, HistoryItem
from bot.llm.common import load_system_prompt
from bot.llm.fallback import FallbackBrain
from bot.llm.openai_compat import OpenAIBrain
from bot.llm.rules import RulesBrain
from tests.support.llm_fakes import FakeChatServer, text_message, tool_call_message
from tools.image_args import GENERATE_IMAGE_SPEC

HISTORY = [HistoryItem("draw me a cat on a skateboard", "a cat on a skateboard, photo", 42)]


def brain(base_url: str, **kw) -> OpenAIBrain:
    kw.setdefault("backoff_s", 0.01)
    return OpenAIBrain(base_url, "sk-test", "qwen2.5:1.5b", **kw)


async def test_tool_call_becomes_a_decision_and_request_carries_tools_and_rules():
    server = FakeChatServer(tool_call_message(
        "generate_image",
        {"prompt": "a cat riding a skateboard at night, moonlight, photo", "seed": 42}))
    async with server.running() as url:
        b = brain(url)
        try:
            d = await b.decide(BrainRequest(text="now make it at night", history=HISTORY,
                                            tools=[GENERATE_IMAGE_SPEC]))
        finally:
            await b.aclose()
    assert d.tool == "generate_image" and d.backend == "openai"
    assert d.args == {"prompt": "a cat riding a skateboard at night, moonlight, photo",
                      "n": 1, "seed": 42}
    body = server.requests[0]
    assert body["model"] == "qwen2.5:1.5b" and body["tool_choice"] == "auto"
    assert body["tools"] == [GENERATE_IMAGE_SPEC.json_schema()]
    system = body["messages"][0]
    assert system["role"] == "system" and system["content"].startswith(load_system_prompt(77))
    assert "# The image model" in system["content"]  # the engine's prompt profile follows
    earlier = body["messages"][2]["tool_calls"][0]["function"]
    assert json.loads(earlier["arguments"])["seed"] == 42
    assert body["messages"][-1] == {"role": "user", "content": "now make it at night"}
    assert server.headers[0]["Authorization"] == "Bearer sk-test"


async def test_forced_tool_is_requested_by_name():
    server = FakeChatServer(tool_call_message("generate_image", {"prompt": "a red fox"}))
    async with server.running() as url:
        b = brain(url)
        d = await b.decide(BrainRequest(text="fox", force_tool="generate_image"))
        await b.aclose()
    assert d.args["prompt"] == "a red fox"
    assert server.requests[0]["tool_choice"] == {"type": "function",
                                                "function": {"name": "generate_image"}}


async def test_text_answer_and_call_left_in_content():
    server = FakeChatServer(text_message("I draw pictures. Try /imagine a cat."))
    async with server.running() as url:
        b = brain(url)
        answer = await b.decide(BrainRequest(text="what can you do?"))
        server.message = text_message(
            '<tool_call>{"name": "generate_image", "arguments": {"prompt": "a cat"}}</tool_call>')
        call = await b.decide(BrainRequest(text="draw a cat"))
        await b.aclose()
    assert answer.tool is None and answer.answer.startswith("I draw pictures")
    assert call.tool == "generate_image" and call.args["prompt"] == "a cat"


async def test_500_is_retried_then_falls_back_to_rules():
    server = FakeChatServer(status=500)
    async with server.running() as url:
        fb = FallbackBrain(brain(url, retries=2), RulesBrain())
        d = await fb.decide(BrainRequest(text="draw me a cat on a skateboard"))
        await fb.aclose()
    assert len(server.requests) == 3  # one try + two retries
    assert d.backend == "rules" and "HTTP 500" in d.fallback_reason
    assert "cat" in d.args["prompt"] and "skateboard" in d.args["prompt"]


async def test_400_is_not_retried():
    server = FakeChatServer(status=400)
    async with server.running() as url:
        fb = FallbackBrain(brain(url, retries=2), RulesBrain())
        d = await fb.decide(BrainRequest(text="draw a cat"))
        await fb.aclose()
    assert len(server.requests) == 1 and "refused" in d.fallback_reason


async def test_slow_server_times_out_then_falls_back(caplog):
    server = FakeChatServer(tool_call_message("generate_image", {"prompt": "late"}), delay_s=5)
    async with server.running() as url:
        fb = FallbackBrain(brain(url, timeout_s=0.2, retries=1), RulesBrain())
        d = await fb.decide(BrainRequest(text="draw a cat"))
        await fb.aclose()
    assert len(server.requests) == 2
    assert d.backend == "rules" and "timed out" in d.fallback_reason
    assert d.args["prompt"].startswith("a cat")
    assert any("using rules" in r.getMessage() for r in caplog.records)


async def test_unusable_answers_fall_back():
    cases = [
        tool_call_message("generate_image", '{"prompt": "a cat"'),  # invalid JSON
        tool_call_message("launch_rockets", {"prompt": "a cat"}),  # unknown tool
        tool_call_message("generate_image", {"prompt": ""}),  # empty prompt
        tool_call_message("generate_image", {"prompt": "cat, " * 200}),  # over-long
    ]
    reasons = []
    server = FakeChatServer()
    async with server.running() as url:
        fb = FallbackBrain(brain(url), RulesBrain())
        for message in cases:
            server.message = message
            d = await fb.decide(BrainRequest(text="draw a cat"))
            assert d.backend == "rules" and d.tool == "generate_image"
            reasons.append(d.fallback_reason)
        await fb.aclose()
    assert ["not valid JSON" in reasons[0], "unknown tool" in reasons[1],
            "empty prompt" in reasons[2], "over-long" in reasons[3]] == [True] * 4


async def test_unreachable_server_falls_back():
    fb = FallbackBrain(brain("http://127.0.0.1:9/v1", retries=0), RulesBrain())
    d = await fb.decide(BrainRequest(text="draw a cat"))
    await fb.aclose()
    assert d.backend == "rules" and "Connect" in d.fallback_reason
