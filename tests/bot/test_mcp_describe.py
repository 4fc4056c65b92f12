"""`describe_image` over MCP with the `mcp` SDK's client at /mcp (a key as the bearer
token): a picture sent as base64, a stored picture by its id, and bad input."""

from __future__ import annotations

import numpy as np
from PIL import Image

from imaging.demo.scenes import Scene, Thing, render
from tests.bot.test_mcp_server import _http_session, _key, _png_b64
from tests.support.helpers import serve_app


def _text(result) -> str:
    [text] = [c.text for c in result.content if c.type == "text"]
    return text


async def test_describe_image_over_mcp(settings_factory, demo_engine, safety_gate):
    settings = settings_factory(api="on")
    key = await _key(settings, "claude")
    scene = Scene("sky", (Thing("heart", "red", "centre", "large"),))
    picture = render(scene, np.random.default_rng(0))[0]
    picture = picture if isinstance(picture, Image.Image) else Image.fromarray(picture)
    async with serve_app(settings, demo_engine, safety_gate) as (url, _services), \
            _http_session(url, key) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        schema = tools["describe_image"].input_schema
        assert {"image_id", "image"} <= set(schema["properties"])

        sent = await session.call_tool("describe_image",
                                       {"image": _png_b64(picture.resize((256, 256)))})
        assert not sent.is_error, sent.content
        prompts = _text(sent).splitlines()
        assert len(prompts) == 4 and prompts[0] == "a red heart in the sky"
        assert sent.structured_content["prompts"] == prompts

        drawn = await session.call_tool("generate_image", {"prompt": "a red heart on a "
                                                           "blue background", "seed": 3})
        image_id = drawn.structured_content["images"][0]["image_id"]
        by_id = await session.call_tool("describe_image", {"image_id": image_id})
        assert not by_id.is_error and "red heart" in _text(by_id).splitlines()[0]

        for bad, words in (({}, "either an image_id or an image"),
                           ({"image": "not base64!"}, "not base64"),
                           ({"image_id": "x" * 30}, "no longer available")):
            result = await session.call_tool("describe_image", bad)
            assert result.is_error and words in _text(result), _text(result)
