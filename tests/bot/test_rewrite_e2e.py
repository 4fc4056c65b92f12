"""Issue 3 end to end through Teams activities: plain words, visible rewrites, follow-ups,
raw mode, and the LLM backends (with their fallback) behind the same server."""

from __future__ import annotations

from tests.support.helpers import (
    card_images,
    card_prompt,
    card_seeds,
    fake_llm,
    images,
    next_image,
    say,
)
from tests.support.llm_fakes import tool_call_message


def _prompt_used(msg: dict) -> str:
    return card_prompt(msg).lower()


async def test_plain_words_then_follow_up_then_question(
        app_factory, settings_factory, connector, activity_factory):
    running = await app_factory(settings_factory())
    await say(running.url, activity_factory("draw me a cat on a skateboard"))
    first = await next_image(connector, 0)
    p1 = _prompt_used(first)
    # Rewritten for the demo model, which knows only its captions: the request's filler
    # goes, and nothing is added that could change the picture (see tests/llm for cues).
    assert p1 == "a cat on a skateboard"
    seed1 = card_seeds(first)

    await say(running.url, activity_factory("now make it at night"))
    second = await next_image(connector, 1)
    p2 = _prompt_used(second)
    assert all(w in p2 for w in ("cat", "skateboard", "night"))
    assert card_seeds(second) == seed1  # seed reused (an edit of the same picture)

    await running.settled()  # the edit's delivery is complete
    before = len(connector.received)
    batches = running.services.runner.batches_run
    await say(running.url, activity_factory("what can you do?"))
    await running.settled()  # whatever the question started has finished
    [answer] = connector.received[before:]  # one answer, in words, and nothing else
    assert answer["type"] == "message" and "/imagine" in answer["text"]
    assert len(images(connector)) == 2  # a question makes no image
    assert running.services.runner.batches_run == batches


async def test_raw_flag_and_raw_setting_skip_rewriting(
        app_factory, settings_factory, connector, activity_factory):
    running = await app_factory(settings_factory())
    await say(running.url, activity_factory("/imagine --raw a fox, ink"))
    assert _prompt_used(await next_image(connector, 0)) == "a fox, ink"

    await say(running.url, activity_factory("/imagine please draw me a fox, ink"))
    assert _prompt_used(await next_image(connector, 1)) == "a fox, ink"  # rewritten

    await say(running.url, activity_factory("/settings raw=on n=2"))
    assert "raw=on" in connector.messages()[-1]["text"]
    await say(running.url, activity_factory("/imagine a fox, ink"))
    third = await next_image(connector, 2)
    assert _prompt_used(third) == "a fox, ink" and len(card_images(third)) == 2

    await say(running.url, activity_factory("/settings size=13x13"))
    assert "multiple of 8" in connector.messages()[-1]["text"]
    await say(running.url, activity_factory("/settings colour=blue"))
    assert "don't know the setting" in connector.messages()[-1]["text"]


async def test_group_chat_keeps_one_history_per_user(
        app_factory, settings_factory, connector, activity_factory):
    running = await app_factory(settings_factory())

    def group(text: str, user: str) -> dict:
        act = activity_factory(text, conversation="19:group@thread.v2", user=user)
        act["conversation"].update(conversationType="groupChat", isGroup=True)
        return act

    await say(running.url, group("draw a lighthouse", "alice"))
    await next_image(connector, 0)
    await running.settled()
    before = len(connector.received)
    await say(running.url, group("now make it at night", "bob"))  # bob has no picture yet
    await running.settled()
    [answer] = connector.received[before:]  # told so in words, and nothing else
    assert answer["type"] == "message" and "picture" in answer["text"].lower()
    assert len(images(connector)) == 1


async def test_openai_backend_rewrites_and_falls_back_when_the_server_fails(
        app_factory, settings_factory, connector, activity_factory):
    async with fake_llm(tool_call_message(
            "generate_image", {"prompt": "a tabby cat riding a skateboard, low angle, dusk light"})
    ) as (fake, brain):
        running = await app_factory(settings_factory(), brain=brain)
        await say(running.url, activity_factory("draw me a cat on a skateboard"))
        msg = await next_image(connector, 0)
        assert _prompt_used(msg) == "a tabby cat riding a skateboard, low angle, dusk light"
        sent = fake.requests[0]
        assert sent["tools"][0]["function"]["name"] == "generate_image"
        assert "draw me a cat on a skateboard" in str(sent["messages"][-1])

        fake.status = 500  # the LLM server breaks: rules stand in, the user still gets an image
        await say(running.url, activity_factory("draw me a red bicycle"))
        msg = await next_image(connector, 1)
        assert "bicycle" in _prompt_used(msg)


async def test_an_llm_rewrite_that_contradicts_the_user_is_repaired_before_it_draws(
        app_factory, settings_factory, connector, activity_factory):
    async with fake_llm(tool_call_message("generate_image", {
            "prompt": "an orange sun, landscape photograph, golden hour, sunset glow"})
    ) as (_, brain):
        running = await app_factory(settings_factory(), brain=brain)
        await say(running.url, activity_factory("draw an orange sun in a blue sky"))
        used = _prompt_used(await next_image(connector, 0))
    # What was drawn (and shown as the prompt used) says what the user said, and no sunset.
    assert used.startswith("an orange sun in a blue sky")
    assert "golden hour" not in used and "sunset" not in used
