"""Teams end to end: real activity JSON -> CloudAdapter -> easel -> fake Bot Connector."""

from __future__ import annotations

import io

import aiohttp
from PIL import Image

from tests.support.engines import Broken
from tests.support.helpers import card_images, card_prompt, card_seeds, decode, is_result
from tests.support.helpers import post_activity as _post


async def test_imagine_is_acknowledged_before_the_image_arrives(
        app_factory, settings_factory, connector, activity_factory):
    running = await app_factory(settings_factory())
    status, _ = await _post(
        running.url, activity_factory("/imagine --size 384x256 a red apple"))
    assert status in (200, 201)
    # The acknowledgement (typing + "working") reached the connector within the request…
    kinds = [a["type"] for a in connector.received]
    assert kinds[:2] == ["typing", "message"], kinds
    assert "red apple" in connector.received[1]["text"]
    assert not any(a.get("attachments") for a in connector.received)
    # …and the image comes afterwards, proactively.
    msg = await connector.wait_for(is_result)
    img = decode(card_images(msg)[0])
    assert img.size == (384, 256)
    assert "red apple" in card_prompt(msg)  # the prompt actually used is shown
    assert msg["conversation"]["id"] == "conv-1"
    # The "working" message was replaced in place, not followed by a second message.
    assert msg["_updated"] == connector.received[1]["_id"]


async def test_image_link_uses_public_url_and_is_served(
        app_factory, settings_factory, connector, activity_factory):
    running = await app_factory(settings_factory(public_url="https://easel.example.com"))
    await _post(running.url, activity_factory("/imagine --seed 42 a blue boat"))
    msg = await connector.wait_for(is_result)
    url = card_images(msg)[0]
    assert url.startswith("https://easel.example.com/images/")
    image_id = url.rsplit("/", 1)[1]
    async with aiohttp.ClientSession() as s:
        resp = await s.get(f"{running.url}/images/{image_id}")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "image/png"
        Image.open(io.BytesIO(await resp.read())).verify()
        for bad in ("nope", "../../etc/passwd", "A" * 30):
            resp = await s.get(f"{running.url}/images/{bad}")
            assert resp.status == 404
    assert card_seeds(msg) == [42]


async def test_help_and_unknown_messages_get_helpful_text(
        app_factory, settings_factory, connector, activity_factory):
    running = await app_factory(settings_factory())
    before = running.services.runner.batches_run
    await _post(running.url, activity_factory("/help"))
    await _post(running.url, activity_factory("how are you today?"))
    await _post(running.url, activity_factory("/frobnicate now"))
    texts = [a["text"] for a in connector.messages()]
    assert "/imagine" in texts[0] and "/help" in texts[0]
    assert "/help" in texts[1] or "draw" in texts[1].lower()
    assert "/frobnicate" in texts[2] and "/imagine" in texts[2]
    await running.settled()  # every delivery these turns started has finished…
    assert len(connector.messages()) == 3  # …and each message got exactly one answer
    assert not any(a.get("attachments") for a in connector.received)  # no image was made
    assert running.services.runner.batches_run == before


async def test_mention_in_channel_is_stripped(
        app_factory, settings_factory, connector, activity_factory):
    running = await app_factory(settings_factory())
    act = activity_factory(
        "<at>easel</at> /imagine a green frog",
        conversation="19:channel@thread.tacv2;messageid=1",
        entities=[{"type": "mention", "text": "<at>easel</at>",
                   "mentioned": {"id": "28:easel-bot", "name": "easel"}}],
    )
    act["conversation"]["conversationType"] = "channel"
    act["conversation"]["isGroup"] = True
    await _post(running.url, act)
    msg = await connector.wait_for(is_result)
    assert "green frog" in card_prompt(msg)
    assert "<at>" not in card_prompt(msg) and "easel" not in card_prompt(msg)


async def test_bad_requests_get_4xx_never_500(app_factory, settings_factory, activity_factory):
    running = await app_factory(settings_factory())
    assert (await _post(running.url, b"{not json"))[0] == 400
    assert (await _post(running.url, b"[1, 2]"))[0] == 400
    assert (await _post(running.url, {"text": "no type"}))[0] == 400
    act = activity_factory("hi")
    del act["serviceUrl"]
    assert (await _post(running.url, act))[0] == 400
    async with aiohttp.ClientSession() as s:
        resp = await s.post(running.url + "/api/messages", data=b"hello",
                            headers={"Content-Type": "text/plain"})
        assert resp.status == 415


async def test_expect_replies_and_invoke_do_not_500(
        app_factory, settings_factory, connector, activity_factory):
    running = await app_factory(settings_factory())
    act = activity_factory("/help", deliveryMode="expectReplies")
    async with aiohttp.ClientSession() as s:
        resp = await s.post(running.url + "/api/messages", json=act)
        assert resp.status == 200
        body = await resp.json()
        assert "/imagine" in body["activities"][0]["text"]  # replies come back in the body


async def test_generation_failure_is_told_to_the_user(
        app_factory, settings_factory, connector, activity_factory):
    running = await app_factory(settings_factory())

    running.services.runner.engine = Broken()
    await _post(running.url, activity_factory("/imagine a cat"))
    msg = await connector.wait_for(lambda a: a.get("type") == "message" and "Sorry" in (a.get("text") or ""))
    assert "try again" in msg["text"].lower()


async def test_delivery_retries_a_flaky_connector(
        app_factory, settings_factory, connector, activity_factory):
    running = await app_factory(settings_factory())
    connector.fail_updates = True  # this client cannot edit messages…
    await _post(running.url, activity_factory("/imagine a kite"))
    connector.fail_next = 1  # …and the proactive send fails once with 503
    msg = await connector.wait_for(is_result, timeout=60)
    assert decode(card_images(msg)[0]).size == (256, 256)
    assert "_updated" not in msg
