"""The describers: the offline one on demo scenes and ordinary pictures, and the vision one
against a loopback OpenAI-compatible chat server (the request carries the picture)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from imaging.demo.scenes import Scene, Thing, render
from imaging.describe import DescribeError
from imaging.describe.local import SceneDescriber, demo_scene, describe_picture
from imaging.describe.vision import VisionDescriber
from tests.support.llm_fakes import FakeChatServer, text_message


def _demo_picture(scene: Scene, side: int = 256) -> Image.Image:
    image = render(scene, np.random.default_rng(0))[0]
    image = image if isinstance(image, Image.Image) else Image.fromarray(image)
    return image.resize((side, side), Image.Resampling.NEAREST)


@pytest.mark.parametrize("scene", [
    Scene("sky", (Thing("heart", "red", "centre", "large"),)),
    Scene("navy", (Thing("boat", "yellow", "left", "medium"),)),
    Scene("night", (Thing("moon", "yellow", "right", "large"),)),
])
async def test_a_demo_picture_is_described_by_its_thing_colour_and_background(scene):
    prompts = await SceneDescriber().describe(_demo_picture(scene))
    thing = scene.things[0]
    assert len(prompts) == 4 and len(set(prompts)) == 4
    assert thing.colour in prompts[0] and thing.shape in prompts[0]
    assert scene.background in prompts[0]
    found = demo_scene(_demo_picture(scene))
    assert found is not None and found.background == scene.background
    assert found.things[0].position == thing.position


def test_any_other_picture_gets_modest_prompts_and_a_tiny_one_a_clear_error():
    rng = np.random.default_rng(1)
    photo = Image.fromarray(rng.integers(0, 255, (300, 480, 3), dtype=np.uint8))
    prompts = describe_picture(photo)
    assert len(prompts) == 4 and all("wide" in p or "palette" in p for p in prompts)
    dark = describe_picture(Image.new("RGB", (200, 400), (10, 12, 80)))
    assert "dark tall picture in navy" in dark[0]
    with pytest.raises(DescribeError, match="too small"):
        describe_picture(Image.new("RGB", (4, 4)))


async def test_the_vision_backend_sends_the_picture_and_reads_a_json_list():
    answer = '```json\n["a red heart in a blue sky", "a crimson heart, flat colours", ' \
             '"a heart balloon", "a red heart"]\n```'
    server = FakeChatServer(message=text_message(answer))
    picture = _demo_picture(Scene("sky", (Thing("heart", "red", "centre", "large"),)))
    async with server.running() as base_url:
        describer = VisionDescriber(base_url, "llava", api_key="sk-test")
        prompts = await describer.describe(picture)
    assert prompts[0] == "a red heart in a blue sky" and len(prompts) == 4
    [request] = server.requests
    assert request["model"] == "llava"
    assert server.headers[0]["Authorization"] == "Bearer sk-test"
    [part] = [p for p in request["messages"][-1]["content"] if p["type"] == "image_url"]
    uri = part["image_url"]["url"]
    assert uri.startswith("data:image/png;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert sent.size == (256, 256) and sent.convert("RGB").getpixel((128, 128)) == \
        picture.getpixel((128, 128))


@pytest.mark.parametrize(("message", "status", "error"), [
    ("I see a heart.", 200, "did not answer with a list"),
    ("[]", 200, "gave no prompts"),
    ("[]", 503, "HTTP 503"),
])
async def test_the_vision_backend_says_what_went_wrong(message, status, error):
    server = FakeChatServer(message=text_message(message), status=status)
    async with server.running() as base_url:
        with pytest.raises(DescribeError, match=error):
            await VisionDescriber(base_url, "llava").describe(Image.new("RGB", (64, 64)))
