"""Several engines in one deployment, end to end on the real app: the web chat and Teams
choose between the demo model, a dall-e-3 behind a loopback OpenAI, and a loopback
ComfyUI; every engine's pictures pass the image gate and are stored and shown the same
way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp.test_utils import TestServer

from imaging.engines.config import parse_engines
from imaging.engines.registry import build_engines
from tests.support.fake_comfyui import comfyui
from tests.support.fake_images_api import KEY, images_api, policy_violation, rate_limited
from tests.support.helpers import (
    FlagBrightest,
    card,
    card_images,
    card_prompt,
    final_reply,
    is_result,
    say,
    walk,
    web_chat,
    web_session,
)


@asynccontextmanager
async def deployment(settings, demo_engine, gate) -> AsyncIterator:
    """The app with three engines (the demo model first: the default), and the fakes."""
    from bot.app.server import create_app
    from bot.app.services import build_services

    async with images_api() as openai, comfyui() as comfy:
        file = parse_engines({"engine": [
            {"name": "demo", "kind": "diffusers"},
            {"name": "dalle", "kind": "openai", "base_url": f"{openai.url}/v1",
             "model": "dall-e-3", "api_key_env": "OPENAI_API_KEY",
             "description": "DALL-E 3: long prompts, text in pictures"},
            {"name": "comfy", "kind": "comfyui", "base_url": comfy.url,
             "workflow": "comfyui/txt2img.json", "steps": 3, "size": "512x512"},
        ]}, {"OPENAI_API_KEY": KEY}, base_dir=_deploy())
        engines = build_engines(file, lambda spec: demo_engine)
        services = build_services(settings, engines, gate=gate)
        server = TestServer(create_app(settings, services), host="127.0.0.1", port=0)
        await server.start_server()
        try:
            yield str(server.make_url("")).rstrip("/"), openai, comfy, services
        finally:
            await server.close()


def _deploy():
    from pathlib import Path

    return Path(__file__).resolve().parents[2] / "deploy"


async def _chat(s, url: str, text: str) -> list[dict]:
    return await web_chat(s, url, text)


_session, _final = web_session, final_reply


async def test_the_web_chat_lists_picks_and_uses_each_engine(
        settings_factory, demo_engine, safety_gate):
    async with deployment(settings_factory(), demo_engine, safety_gate) as (url, openai, comfy,
                                                                             svc), _session() as s:
        await (await s.get(url + "/")).release()
        models = _final(await _chat(s, url, "/models"))["text"]
        assert "**demo** ← this conversation" in models and "**comfy**" in models
        assert "**dalle**: DALL-E 3: long prompts, text in pictures. remote" in models
        assert "1024x1024, 1792x1024, 1024x1792" in models

        # One picture from dall-e-3, at a size it does not make: rounded, and said so.
        reply = _final(await _chat(s, url, "/imagine --model dalle --size 1536x864 a red fox"))
        assert reply["kind"] == "images", reply
        assert "dalle makes 1024x1024, 1792x1024 or 1024x1792, so I made 1792x1024 " \
               "(you asked for 1536x864)" in reply["text"]
        assert reply["prompt"].startswith("A detailed rendering of ")  # revised_prompt shown
        [image] = reply["images"]
        assert (image["width"], image["height"]) == (1792, 1024) and image["seed"] is None
        assert reply["engine"] == "dalle" and openai.calls[0].body["n"] == 1
        async with s.get(url + image["url"]) as resp:  # stored and served like any other
            assert resp.status == 200 and resp.content_type == "image/png"

        # The conversation switches to ComfyUI: plain words go there, with previews.
        svc.runner.runners["comfy"].preview_interval_s = 0  # a preview at every step
        assert "model=comfy" in _final(await _chat(s, url, "/settings model=comfy"))["text"]
        events = await _chat(s, url, "a lighthouse at dusk")
        reply = _final(events)
        assert reply["kind"] == "images" and reply["engine"] == "comfy"
        assert "lighthouse" in comfy.prompts[-1]["6"]["inputs"]["text"]
        assert any(e["type"] == "progress" and e["preview"] for e in events)
        assert reply["images"][0]["seed"] is not None  # ComfyUI takes the seed
        assert "model=comfy" in _final(await _chat(s, url, "/settings"))["text"]

        # An unknown engine is a helpful answer, not a failure.
        reply = _final(await _chat(s, url, "/imagine --model nope a cat"))
        assert reply["kind"] == "error" and "Engines: demo, dalle, comfy" in reply["text"]


async def test_a_remote_refusal_a_busy_provider_and_an_edit_it_cannot_do(
        settings_factory, demo_engine, safety_gate):
    async with deployment(settings_factory(), demo_engine, safety_gate) as (url, openai, _c,
                                                                             svc), _session() as s:
        await (await s.get(url + "/")).release()
        await _chat(s, url, "/settings model=dalle")
        openai.fail.append(policy_violation())
        reply = _final(await _chat(s, url, "/imagine a castle"))
        assert reply["kind"] == "refusal" and "OpenAI's content policy declined" in reply["text"]

        engine = svc.engines.get("dalle").engine
        slept: list[float] = []

        async def sleep(seconds: float) -> None:
            slept.append(seconds)

        engine.sleep = sleep
        openai.fail.append(rate_limited("3"))
        reply = _final(await _chat(s, url, "/imagine a castle"))
        assert reply["kind"] == "images" and slept == [3.0]  # waited, then delivered

        # dall-e-3 cannot edit: the follow-up is drawn afresh, and the user is told.
        reply = _final(await _chat(s, url, "/edit make it darker"))
        assert reply["kind"] == "images", reply
        assert "dalle cannot edit pictures, so I drew it again" in reply["text"]
        assert openai.calls[-1].path == "/v1/images/generations"


async def test_remote_pictures_pass_the_image_gate_in_teams(
        settings_factory, demo_engine, safety_gate, connector, activity_factory):
    from safety.gate import SafetyGate

    gate = SafetyGate(safety_gate.text_classifier, FlagBrightest(), safety_gate.policy,
                      safety_gate.audit)
    settings = settings_factory()
    async with deployment(settings, demo_engine, gate) as (url, openai, _c, _svc):
        await say(url, activity_factory("/imagine --model dalle --n 2 a quiet harbour"))
        msg = await connector.wait_for(is_result)
        assert len(openai.calls) == 2  # n=2 on dall-e-3: two calls
        assert len(card_images(msg)) == 1  # the flagged one withheld, its sibling shown
        texts = " ".join(n.get("text", "") for n in walk(card(msg))
                         if n.get("type") == "TextBlock")
        assert "1 of 2 images were withheld" in texts and "dalle" in texts
        assert "seed" not in texts  # dall-e-3 has no seed control
        assert card_prompt(msg).startswith("A detailed rendering of")
        stored = list((settings.data_dir / "images").rglob("*.png"))
        assert len(stored) == 1  # the withheld picture was never stored
