from __future__ import annotations

import pytest

from bot.app.settings import SettingsError, load_settings, parse_size
from bot.pipeline.commands import parse


@pytest.mark.parametrize("text,name,prompt,options,raw", [
    ("/imagine a red apple", "imagine", "a red apple", {}, False),
    ("imagine: a red apple", "imagine", "a red apple", {}, False),
    ("Imagine a cat", "imagine", "a cat", {}, False),
    ("/imagine --n 2 --size 768x512 --seed 7 a fox", "imagine", "a fox",
     {"n": "2", "size": "768x512", "seed": "7"}, False),
    ("/imagine --raw --n=3 a fox -- in the snow", "imagine", "a fox -- in the snow", {"n": "3"}, True),
    ("/help", "help", "", {}, False),
    ("imagine that!", "imagine", "that!", {}, False),
    ("what can you do", "chat", "what can you do", {}, False),
])
def test_parse(text, name, prompt, options, raw):
    cmd = parse(text)
    assert (cmd.name, cmd.text, cmd.options, cmd.raw, cmd.error) == (name, prompt, options, raw, None)


def test_parse_errors_and_unknown():
    assert parse("/imagine --n two a cat").error
    assert parse("/imagine --seed").error
    assert parse("/paint a cat").name == "unknown"


def test_sizes():
    assert parse_size("768x512") == (768, 512)
    with pytest.raises(ValueError, match="size must look like 512x512, not '768'"):
        parse_size("768")
    for bad in ("10x10", "777x512", "8192x512"):  # too small, not a multiple of 8, too big
        with pytest.raises(ValueError, match="each side must be a multiple of 8 between 64 and 4096"):
            parse_size(bad)


@pytest.mark.parametrize("overrides,needle", [
    ({"public_url": "easel.example.com"}, "EASEL_PUBLIC_URL"),
    ({"microsoft_app_type": "Bogus"}, "MicrosoftAppType"),
    ({"microsoft_app_id": "x", "microsoft_app_password": "p",
      "microsoft_app_type": "SingleTenant"}, "MicrosoftAppTenantId"),
    ({"image_size": "100x100"}, "multiple of 8"),
    ({"rewriter": "openai"}, "EASEL_LLM_BASE_URL"),
])
def test_settings_are_validated_with_clear_messages(overrides, needle, tmp_path):
    with pytest.raises(SettingsError, match=needle):
        load_settings(data_dir=tmp_path, **overrides)


def test_settings_read_bot_framework_names_from_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MicrosoftAppId", "abc")
    monkeypatch.setenv("MicrosoftAppPassword", "pw")
    monkeypatch.setenv("EASEL_PUBLIC_URL", "https://easel.example.com/")
    s = load_settings(data_dir=tmp_path)
    assert s.auth_enabled and s.microsoft_app_password == "pw"
    assert s.public_url == "https://easel.example.com"
