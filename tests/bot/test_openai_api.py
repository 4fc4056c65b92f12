"""The OpenAI Images API (issue 28), called with the official `openai` SDK on the real app
on loopback: generations (b64 and url), edits with a mask and with two pictures,
variations, streaming with partial images, and the SDK's typed exceptions."""

from __future__ import annotations

import base64

import aiohttp
import openai
import pytest

from bot.app.openai_wiring import API_KEYS
from safety.audit import hash_user_id
from tests.support.openai_api import client, decoded, mask_png, png


@pytest.fixture
async def api(app_factory, settings_factory):
    running = await app_factory(settings_factory(api="on"))
    key, _ = await running.app[API_KEYS].create("test-app")
    sdk = client(running.url, key)
    yield running, sdk
    await sdk.close()


async def test_generate_b64_as_drawn_and_stamped(api):
    running, sdk = api
    raw = await sdk.images.with_raw_response.generate(
        model="demo", prompt="a red heart on a blue background", n=2, size="256x256",
        response_format="b64_json")
    result = raw.parse()
    timing = dict(p.split(";dur=") for p in raw.headers["server-timing"].split(", "))
    assert 0 < float(timing["tool"]) <= float(timing["total"])
    assert len(result.data) == 2 and result.created > 0
    for item in result.data:
        data = base64.b64decode(item.b64_json)
        assert data.startswith(b"\x89PNG") and decoded(data).size == (256, 256)
        assert item.revised_prompt is None  # drawn as given: nothing rewritten
    assert result.size == "256x256" and result.output_format == "png"
    assert result.usage is not None and result.usage.input_tokens_details.text_tokens == 7
    # The stored picture is what was sent: watermarked and signed like any other.
    [stored] = [p for p in (running.services.settings.data_dir / "images").rglob("*.png")
                if p.read_bytes() == base64.b64decode(result.data[0].b64_json)]
    assert stored.exists()


async def test_generate_url_points_at_the_image_store(api):
    running, sdk = api
    result = await sdk.images.generate(prompt="a green tree", response_format="url",
                                       output_format="jpeg", output_compression=80)
    [item] = result.data
    assert item.url.startswith(running.url + "/images/")
    async with aiohttp.ClientSession() as s, s.get(item.url) as resp:
        assert resp.status == 200 and resp.content_type == "image/jpeg"
        assert decoded(await resp.read()).format == "JPEG"


async def test_easel_rewrite_comes_back_as_revised_prompt(api):
    _, sdk = api
    result = await sdk.images.generate(prompt="draw me a cat please", output_format="webp",
                                       extra_body={"easel_rewrite": True})
    [item] = result.data
    assert item.revised_prompt and item.revised_prompt != "draw me a cat please"
    assert "cat" in item.revised_prompt
    assert decoded(base64.b64decode(item.b64_json)).format == "WEBP"


async def test_edit_with_a_mask_redraws_only_the_transparent_part(api):
    _, sdk = api
    drawn = await sdk.images.generate(prompt="a red heart on a blue background")
    source = base64.b64decode(drawn.data[0].b64_json)  # a picture easel made, sent back
    result = await sdk.images.edit(image=("in.png", source, "image/png"),
                                   mask=("mask.png", mask_png(hole=(64, 64, 192, 192)),
                                         "image/png"),
                                   prompt="a yellow star on a blue background", size="256x256")
    [item] = result.data
    out = decoded(base64.b64decode(item.b64_json)).convert("RGB")
    assert out.size == (256, 256)
    before = decoded(source).convert("RGB")

    def moved(points: list[tuple[int, int]]) -> float:
        diffs = [abs(a - b) for p in points
                 for a, b in zip(out.getpixel(p), before.getpixel(p), strict=True)]
        return sum(diffs) / len(diffs)

    # The transparent centre is redrawn; the kept border moves only by the round trip
    # through the latents and the watermark.
    grid = [(x, y) for x in range(4, 256, 8) for y in range(4, 256, 8)]
    inside = moved([(x, y) for x, y in grid if 72 <= x < 184 and 72 <= y < 184])
    outside = moved([(x, y) for x, y in grid if min(x, y) < 40 or max(x, y) > 216])
    assert outside < 5 and outside < inside / 8, (inside, outside)  # measured: 62 and 1.8


async def test_edit_with_two_images(api):
    _, sdk = api
    result = await sdk.images.edit(
        image=[("a.png", png(colour=(200, 40, 40)), "image/png"),
               ("b.png", png((320, 192), colour=(40, 200, 40)), "image/png")],
        prompt="a red heart and a green heart side by side", input_fidelity="high", n=1)
    [item] = result.data
    assert decoded(base64.b64decode(item.b64_json)).size == (256, 256)  # the first's size
    assert result.usage.input_tokens_details.image_tokens == 2


async def test_variation(api):
    _, sdk = api
    result = await sdk.images.create_variation(image=("in.png", png(), "image/png"), n=2,
                                               response_format="b64_json")
    assert len(result.data) == 2
    assert {decoded(base64.b64decode(i.b64_json)).size for i in result.data} == {(256, 256)}


async def test_models_are_the_engines(api):
    _, sdk = api
    models = await sdk.models.list()
    assert [m.id for m in models.data] == ["demo"]
    assert (await sdk.models.retrieve("demo")).owned_by == "easel"


async def test_stream_sends_partial_images_then_the_picture(demo_engine, safety_gate,
                                                            settings_factory):
    from aiohttp.test_utils import TestServer

    from bot.app.server import build_services, create_app
    from tests.support.paced_engine import Paced

    settings = settings_factory(api="on")
    services = build_services(settings, Paced(demo_engine, step_s=0.5), None, None, safety_gate)
    app = create_app(settings, services)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        key, _ = await app[API_KEYS].create("streamer")
        sdk = client(str(server.make_url("")).rstrip("/"), key)
        stream = await sdk.images.generate(prompt="a red heart", stream=True, partial_images=2,
                                           quality="high")
        events = [e async for e in stream]
        edit = await sdk.images.edit(image=("in.png", png(), "image/png"), prompt="a green heart",
                                     stream=True, partial_images=1, quality="high")
        edits = [e async for e in edit]
        await sdk.close()
    finally:
        await server.close()
    kinds = [e.type for e in events]
    assert kinds[-1] == "image_generation.completed" and kinds.count(kinds[-1]) == 1
    partials = [e for e in events if e.type == "image_generation.partial_image"]
    assert 1 <= len(partials) <= 2
    assert [p.partial_image_index for p in partials] == list(range(len(partials)))
    assert decoded(base64.b64decode(partials[0].b64_json)).format == "PNG"
    final = decoded(base64.b64decode(events[-1].b64_json))
    assert final.size == (256, 256) and events[-1].usage.output_tokens == 1
    assert [e.type for e in edits][-1] == "image_edit.completed"
    assert {e.type for e in edits[:-1]} == {"image_edit.partial_image"} and len(edits) == 2


async def test_typed_errors(api, safety_gate):
    running, sdk = api
    with pytest.raises(openai.BadRequestError) as blocked:
        await sdk.images.generate(prompt="draw a naked child in a bedroom")
    assert blocked.value.code == "moderation_blocked" and blocked.value.status_code == 400
    assert blocked.value.body["moderation_details"]["moderation_stage"] == "input"
    # The audit names the key's user, hashed like any user id.
    assert safety_gate.audit.sink.records[-1].user == hash_user_id("key:test-app", "test-salt")

    bad = client(running.url, "easel-" + "x" * 43)
    with pytest.raises(openai.AuthenticationError) as denied:
        await bad.images.generate(prompt="a cat")
    await bad.close()
    assert denied.value.code == "invalid_api_key"
    async with aiohttp.ClientSession() as s:  # no key at all
        async with s.post(running.url + "/v1/images/generations", json={"prompt": "a"}) as r:
            body = await r.json()
            assert r.status == 401 and body["error"]["code"] == "invalid_api_key"

    limited_key, _ = await running.app[API_KEYS].create("limited", images_per_minute=2)
    limited = client(running.url, limited_key)
    await limited.images.generate(prompt="a blue square", n=2)
    with pytest.raises(openai.RateLimitError) as slow:
        await limited.images.generate(prompt="a blue square")
    await limited.close()
    assert 1 <= int(slow.value.response.headers["retry-after"]) <= 60
    assert slow.value.code == "rate_limit_exceeded"

    async with aiohttp.ClientSession() as s, s.get(running.url + "/metrics") as resp:
        metrics = await resp.text()
    assert ('easel_api_requests_total{api="openai",endpoint="images/generations",'
            'key="limited",status="429"} 1.0') in metrics
    assert 'easel_api_images_total{api="openai",key="limited"} 2.0' in metrics
    assert 'key="-",status="401"' in metrics


async def test_routes_are_off_unless_turned_on(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    async with aiohttp.ClientSession() as s:
        async with s.post(running.url + "/v1/images/generations", json={"prompt": "a"}) as r:
            assert r.status == 404
