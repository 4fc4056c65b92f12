"""Provenance through the whole app: every stored image carries a signed C2PA manifest
and the watermark, edits name their parent, channel copies are signed again, and
`/verify` answers in the web chat and in Teams without showing anyone else's prompt."""

from __future__ import annotations

import base64
import io
import json

from PIL import Image

from bot.channels.teams_render import TeamsRenderer
from imaging.delivery import ChannelLimits
from imaging.provenance import ManifestState
from tests.support.helpers import final_reply, next_image, say, walk, web_chat, web_session


async def _chat(s, url: str, text: str, image: bytes | None = None) -> dict:
    return final_reply(await web_chat(s, url, text, image=image))


_session = web_session


def _jpeg(data: bytes, quality: int = 80) -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


async def test_every_image_is_signed_and_watermarked_and_verify_says_whose(
        app_factory, settings_factory):
    running = await app_factory(settings_factory())
    prov = running.services.provenance
    async with _session() as ada, _session() as bob:
        for s in (ada, bob):
            await (await s.get(running.url + "/")).release()
        reply = await _chat(ada, running.url, "/imagine a red apple on a blue table")
        async with ada.get(running.url + reply["images"][0]["url"]) as resp:
            stored = await resp.read()
        report = prov.verify(stored)
        assert report.manifest.state is ManifestState.TRUSTED and report.manifest.easel
        assert report.manifest.action == "c2pa.created" and not report.manifest.has_parent
        assert report.manifest.software_agent == "demo easel built-in demo model"
        assert report.watermark.present and report.watermark.this_deployment
        assert "red apple" not in json.dumps(report.to_dict())  # no prompt by default

        # An edit names the picture it came from.
        edit = await _chat(ada, running.url, "make it darker")
        async with ada.get(running.url + edit["images"][0]["url"]) as resp:
            edited = prov.verify(await resp.read())
        assert edited.manifest.action == "c2pa.edited" and edited.manifest.has_parent

        text = (await _chat(ada, running.url, "/verify", stored))["text"]
        assert "signed by easel and intact" in text and "this easel made it" in text
        assert "It is image 1 of your picture “/imagine a red apple" in text \
            or "It is image 1 of your picture “a red apple" in text
        # A chat app's re-encode strips the manifest; the watermark still answers.
        text = (await _chat(ada, running.url, "/verify", _jpeg(stored)))["text"]
        assert "Content Credentials: none" in text and "this easel made it" in text
        # Someone else learns only that this easel made it: never whose, never the prompt.
        text = (await _chat(bob, running.url, "/verify", stored))["text"]
        assert "not one of this conversation's pictures" in text and "apple" not in text
        text = (await _chat(ada, running.url, "/verify"))["text"]
        assert "Attach a picture" in text


async def test_verify_in_teams_and_channel_copies_are_signed_again(
        app_factory, settings_factory, connector, activity_factory):
    running = await app_factory(settings_factory())
    svc = running.services
    await say(running.url, activity_factory("/imagine a paper boat"))
    await next_image(connector, 0)
    rec = await svc.conversations.load("conv/teams/tenant-1/conv-1")
    stored = await svc.store.read(rec.generations[-1].image_ids[0])
    connector.files["att1"] = (stored, "image/png")
    await say(running.url, activity_factory("/verify", attachments=[{
        "contentType": "image/png", "name": "boat.png",
        "contentUrl": f"{connector.url}/v3/attachments/att1/views/original"}]))
    answer = await connector.wait_for(lambda a: "Content Credentials" in (a.get("text") or ""))
    assert "signed by easel and intact" in answer["text"]
    assert "It is image 1 of your picture" in answer["text"]

    # A copy fitted to a smaller limit is re-encoded, so it is signed again, as an edit of
    # the stored original.
    renderer = TeamsRenderer(svc.store, None, ChannelLimits(max_side=200, max_bytes=20000),
                             sign_copy=svc.stamp.sign_copy)
    reply = svc.assistant.studio.show(rec.generations[-1])
    card_reply = await renderer.result_card(reply)
    [uri] = [n["url"] for n in walk(card_reply) if n.get("type") == "Image"]
    copy = base64.b64decode(uri.split(",", 1)[1])
    report = svc.provenance.verify(copy)
    assert report.manifest.easel and report.manifest.has_parent
    assert report.manifest.state in (ManifestState.TRUSTED, ManifestState.VALID)
    assert report.watermark.present  # the pixels still carry the mark after the resize

