"""Contracts between bot/ and the layers below: required gate, owned resources, commands."""

from __future__ import annotations

import logging

import pytest
from aiohttp.test_utils import TestServer
from PIL import Image

from bot.llm.rules import RulesBrain
from bot.pipeline.assistant import Assistant
from bot.pipeline.commands import CommandError, CommandLimits, image_options, parse_settings
from bot.state.conversations import StorageConversationStore
from bot.state.storage import EtagMemoryStorage
from imaging.engine import GenerationError, ImageRequest
from imaging.jobs import ImageJob, LocalJobRunner
from imaging.store import FileImageStore
from imaging.uploads import UploadError, prepare_upload
from tests.support.engines import Broken
from tools.base import ToolRegistry

LIMITS = CommandLimits(max_images=4, max_side=1024, max_steps=50)


def test_assistant_cannot_be_built_without_a_gate(tmp_path) -> None:
    with pytest.raises(TypeError, match="gate"):
        Assistant(ToolRegistry(), RulesBrain(),  # type: ignore[call-arg]
                  store=StorageConversationStore(EtagMemoryStorage()),
                  images=FileImageStore(tmp_path))


def test_settings_words_parse_against_the_limits() -> None:
    assert parse_settings("", LIMITS) == {}
    assert parse_settings("raw=on n=2 size=768x512 steps=8", LIMITS) == {
        "raw": True, "n": 2, "size": "768x512", "steps": 8}
    assert parse_settings("n=3 reset steps=4", LIMITS) == {
        "raw": False, "n": None, "size": None, "steps": 4, "model": None, "arena": False}
    for words, needle in [("n=9", "from 1 to 4"), ("steps=0", "from 1 to 50"),
                          ("raw=maybe", "on or off"), ("size=2048x512", "between 64 and 1024"),
                          ("colour=red", "don't know the setting `colour`"),
                          ("n", "look like `name=value`")]:
        with pytest.raises(CommandError, match=needle):
            parse_settings(words, LIMITS)


def test_imagine_options_are_checked() -> None:
    assert image_options({"n": "2", "size": "512x768", "seed": "7"}, LIMITS) == {
        "n": 2, "size": "512x768", "seed": 7}
    with pytest.raises(CommandError, match="--n must be between 1 and 4"):
        image_options({"n": "5"}, LIMITS)
    with pytest.raises(CommandError, match="--size"):
        image_options({"size": "100x100"}, LIMITS)


def _png(size: tuple[int, int]) -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGBA", size, (10, 200, 30, 255)).save(buf, format="PNG")
    return buf.getvalue()


def test_uploads_are_fitted_for_editing() -> None:
    img = prepare_upload(_png((2000, 1003)), max_side=1024)
    assert img.mode == "RGB" and img.size == (1024, 512)  # 1024x513 -> multiples of 8
    assert prepare_upload(_png((30, 30)), max_side=1024).size == (64, 64)
    with pytest.raises(UploadError, match="PNG, JPEG and WebP"):
        prepare_upload(b"GIF89a but not really", max_side=1024)


async def test_engine_failures_keep_their_cause_and_traceback(caplog) -> None:
    runner = LocalJobRunner(Broken())
    try:
        with caplog.at_level(logging.ERROR, logger="imaging.jobs"):
            handle = await runner.submit(ImageJob(ImageRequest(prompt="a fox"), "u1"))
            with pytest.raises(GenerationError, match="RuntimeError") as err:
                await handle.wait()
    finally:
        await runner.close()
    assert isinstance(err.value.__cause__, RuntimeError)
    [record] = [r for r in caplog.records if r.name.startswith("imaging.jobs")]
    assert record.exc_info is not None and "device-side assert" in str(record.exc_info[1])


async def test_remote_safety_session_is_closed_at_shutdown(settings_factory, demo_engine) -> None:
    from bot.app.server import create_app
    from bot.app.services import build_services

    settings = settings_factory(safety_text_backend="openai", safety_openai_api_key="sk-test",
                                safety_openai_base_url="http://127.0.0.1:9/v1")
    services = build_services(settings, demo_engine)
    assert services.http is not None and not services.http.closed
    server = TestServer(create_app(settings, services), host="127.0.0.1", port=0)
    await server.start_server()
    await server.close()
    assert services.http.closed
