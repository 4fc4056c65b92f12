"""Tiny chat models for the brain tests, built once per session (no downloads)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.llm_fakes import build_tiny_chat_model

# What the wired model writes after `<|assistant|>`: a Qwen-style tool call.
WIRED_REPLY = (
    '<tool_call> {"name": "generate_image", "arguments": {"prompt": '
    '"a cat riding skateboard at night", "seed": 42}} </tool_call>'
)


@pytest.fixture(scope="session")
def wired_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_chat_model(tmp_path_factory.mktemp("llm") / "wired", reply=WIRED_REPLY)


@pytest.fixture(scope="session")
def random_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_chat_model(tmp_path_factory.mktemp("llm") / "random", seed=0)
