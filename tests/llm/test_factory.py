"""build_brain: kinds, settings validation, fallback wrapping."""

from __future__ import annotations

import pytest

from bot.llm.base import BrainRequest
from bot.llm.factory import build_brain
from bot.llm.fallback import FallbackBrain
from bot.llm.openai_compat import OpenAIBrain
from bot.llm.rules import RulesBrain
from bot.llm.transformers_backend import TransformersBrain
from tests.support.llm_fakes import FakeChatServer, tool_call_message


def test_rules_is_the_default():
    assert isinstance(build_brain("rules"), RulesBrain)
    assert isinstance(build_brain(" Rules "), RulesBrain)


@pytest.mark.parametrize(
    ("kind", "kw", "message"),
    [
        ("transformers", {}, "EASEL_LLM_MODEL"),
        ("openai", {"model": "m"}, "EASEL_LLM_BASE_URL"),
        ("openai", {"base_url": "http://x/v1"}, "EASEL_LLM_MODEL"),
        ("openai", {"base_url": "localhost:8000", "model": "m"}, "http://"),
        ("gpt", {}, "expected one of: rules, transformers, openai"),
    ],
)
def test_missing_or_bad_settings_are_clear_errors(kind, kw, message):
    with pytest.raises(ValueError, match=message):
        build_brain(kind, **kw)


def test_transformers_is_loaded_and_wrapped(wired_model_dir):
    brain = build_brain("transformers", model=str(wired_model_dir))
    assert isinstance(brain, FallbackBrain) and isinstance(brain.primary, TransformersBrain)
    assert brain.name == "transformers"


async def test_openai_is_wrapped_and_works():
    server = FakeChatServer(tool_call_message("generate_image", {"prompt": "a heron, ink"}))
    async with server.running() as url:
        brain = build_brain("openai", model="m", base_url=url, api_key=None)
        assert isinstance(brain, FallbackBrain) and isinstance(brain.primary, OpenAIBrain)
        d = await brain.decide(BrainRequest(text="draw a heron in ink"))
        await brain.aclose()
    assert d.backend == "openai" and d.fallback_reason is None
    assert d.args["prompt"] == "a heron, ink"
    assert "Authorization" not in server.headers[0]  # no key: no header
