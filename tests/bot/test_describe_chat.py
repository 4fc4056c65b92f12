"""/describe in the web chat, end to end on the real app with the demo model: the last
picture or an attached one → four `/imagine` lines; words ("describe this") work too;
no picture gets a clear answer; a prompt that fails checkpoint 2 is dropped."""

from __future__ import annotations

import io
import re

import numpy as np
from PIL import Image

from imaging.demo.scenes import Scene, Thing, render
from tests.support.helpers import final_reply, web_chat, web_session

LINE = re.compile(r"^\d\. `/imagine ([^`]+)`$", re.M)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class FixedDescriber:
    """A describing backend that answers set prompts (a stand-in vision model)."""

    name = "fixed"

    def __init__(self, prompts: list[str]) -> None:
        self.prompts = prompts

    async def describe(self, image: Image.Image) -> list[str]:
        return list(self.prompts)


async def test_describe_the_last_picture_then_draw_a_description(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    async with web_session() as s:
        await (await s.get(running.url + "/")).release()
        drawn = final_reply(await web_chat(s, running.url,
                                           "/imagine --seed 3 a red heart on a blue background"))
        assert drawn["kind"] == "images"
        events = await web_chat(s, running.url, "/describe")
        assert events[0]["reply"]["text"].startswith("🔎")  # the ack, then the prompts
        reply = final_reply(events)
        prompts = LINE.findall(reply["text"])
        assert reply["kind"] == "text" and len(prompts) == 4, reply["text"]
        assert "heart" in prompts[0] and "red" in prompts[0], prompts
        again = final_reply(await web_chat(s, running.url, f"/imagine {prompts[0]}"))
        assert again["kind"] == "images" and "heart" in again["prompt"]


async def test_describe_an_attached_picture_in_words(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    scene = Scene("navy", (Thing("boat", "yellow", "left", "large"),))
    picture = render(scene, np.random.default_rng(0))[0]
    picture = picture if isinstance(picture, Image.Image) else Image.fromarray(picture)
    async with web_session() as s:
        await (await s.get(running.url + "/")).release()
        reply = final_reply(await web_chat(s, running.url, "describe this",
                                           image=_png(picture.resize((256, 256)))))
        prompts = LINE.findall(reply["text"])
        assert len(prompts) == 4 and "yellow boat" in prompts[0], reply["text"]
        # The attachment became the conversation's picture: /describe 1 finds it again.
        assert LINE.findall(final_reply(await web_chat(s, running.url, "/describe 1"))["text"])


async def test_no_picture_and_a_non_picture_get_clear_answers(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    async with web_session() as s:
        await (await s.get(running.url + "/")).release()
        for text in ("/describe", "describe this"):
            reply = final_reply(await web_chat(s, running.url, text))
            assert reply["kind"] == "text" and "Attach a picture" in reply["text"]
        broken = _png(Image.new("RGB", (64, 64), (200, 30, 30)))[:70]  # cut short
        bad = final_reply(await web_chat(s, running.url, "/describe", image=broken))
        assert bad["kind"] == "error" and "/imagine" not in bad["text"]
    help_text = final_reply(await _help(running))["text"]
    assert "/describe" in help_text


async def _help(running) -> list[dict]:
    async with web_session() as s:
        await (await s.get(running.url + "/")).release()
        return await web_chat(s, running.url, "/help")


async def test_a_prompt_that_fails_checkpoint_2_is_left_out(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    tool = running.services.tools.get("describe_image")
    tool.describer = FixedDescriber(["a quiet harbour at dawn",
                                     "a beheading with lots of gore",
                                     "a lighthouse in the fog"])
    async with web_session() as s:
        await (await s.get(running.url + "/")).release()
        picture = _png(Image.new("RGB", (128, 128), (40, 90, 225)))
        reply = final_reply(await web_chat(s, running.url, "/describe", image=picture))
    assert LINE.findall(reply["text"]) == ["a quiet harbour at dawn", "a lighthouse in the fog"]
    assert "gore" not in reply["text"]
