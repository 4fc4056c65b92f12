"""Region edits, zoom out, pan and upscale through the web chat on the demo model: what
stays, what changes, /undo after each, the manifest's parent, the image gate on the whole
composite, and the bad inputs that are answered with nothing queued."""

from __future__ import annotations

import base64
import io
from dataclasses import replace

import numpy as np
from aiohttp.test_utils import TestServer
from PIL import Image

from imaging.canvas import Region, box_mask
from imaging.canvas.metrics import outside_change, psnr
from tests.support.engines import Steered
from tests.support.helpers import FlagBrightest, final_reply, web_chat, web_session

PICTURE = "/imagine --seed 3 a red apple on a blue background"
KEEP = 2 / 255  # the most the pixels outside a region may move, on average (the watermark)


async def _turn(s, url: str, text: str, **extra) -> dict:
    return final_reply(await web_chat(s, url, text, **extra))


async def _fetch(s, url: str, reply: dict) -> tuple[bytes, Image.Image]:
    assert reply["kind"] == "images", reply
    async with s.get(url + reply["images"][0]["url"]) as resp:
        data = await resp.read()
    return data, Image.open(io.BytesIO(data)).convert("RGB")


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _moved(src: Image.Image, out: Image.Image, mask: Image.Image) -> float:
    """The mean change inside the mask, 0–1."""
    inside = np.asarray(mask) >= 128
    return float(np.abs(np.asarray(out, float) - np.asarray(src, float))[inside].mean() / 255)


async def _undo_to(s, url: str, first: dict) -> None:
    back = await _turn(s, url, "/undo")
    assert back["images"][0]["url"] == first["images"][0]["url"], back


async def test_region_edits_by_box_words_and_mask_keep_the_rest(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    url, prov = running.url, running.services.provenance
    async with web_session() as s:
        await (await s.get(url + "/")).release()
        first = await _turn(s, url, PICTURE)
        _, src = await _fetch(s, url, first)

        box = await _turn(s, url, "/edit region=0,0.5,1,1 a green field")
        data, out = await _fetch(s, url, box)
        bottom = box_mask(src.size, Region(0, 0.5, 1, 1))
        assert out.size == src.size and outside_change(src, out, bottom) <= KEEP
        assert _moved(src, out, bottom) > 0.02
        manifest = prov.verify(data).manifest
        assert manifest.action == "c2pa.edited" and manifest.has_parent
        await _undo_to(s, url, first)

        # In words: the positional phrase is the region, the rest the instruction.
        words = await _turn(s, url, "make the top half a sunset sky")
        _, out = await _fetch(s, url, words)
        top = box_mask(src.size, Region(0, 0, 1, 0.5))
        assert outside_change(src, out, top) <= KEEP and _moved(src, out, top) > 0.02
        assert words["user_prompt"] == "make the top half a sunset sky"
        await _undo_to(s, url, first)

        # A drawn mask (white = change) with the words, on the picture the button was under.
        drawn = Image.new("L", src.size, 0)
        drawn.paste(255, (0, 128, 128, 256))
        masked = await _turn(s, url, "/edit 1 grass", mask=_png(drawn),
                             reference=first["generation_id"])
        _, out = await _fetch(s, url, masked)
        assert outside_change(src, out, drawn) <= KEEP and _moved(src, out, drawn) > 0.02
        assert "resized" not in masked["text"]
        # The same mask at a quarter of the size is resized, and the user hears so.
        small = await _turn(s, url, "grass", mask=_png(drawn.resize((64, 64))),
                            reference=first["generation_id"])
        _, out = await _fetch(s, url, small)
        assert "resized it to 256x256" in small["text"]
        assert outside_change(src, out, drawn) <= KEEP
        await _undo_to(s, url, first)


async def test_zoom_pan_and_upscale_then_undo_after_each(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    url, prov = running.url, running.services.provenance
    async with web_session() as s:
        await (await s.get(url + "/")).release()
        first = await _turn(s, url, PICTURE)
        _, src = await _fetch(s, url, first)

        zoom = await _turn(s, url, "/zoom 2")
        data, out = await _fetch(s, url, zoom)
        assert out.size == src.size
        half = src.resize((128, 128), Image.Resampling.LANCZOS)
        assert psnr(out.crop((64, 64, 192, 192)), half) >= 35  # the source, at half scale
        assert prov.verify(data).manifest.has_parent
        # A follow-up changes the zoomed picture, and /undo walks back through both.
        darker = await _turn(s, url, "make it darker")
        assert darker["kind"] == "images"
        await _undo_to(s, url, zoom)
        await _undo_to(s, url, first)

        pan = await _turn(s, url, "/pan left")
        _, out = await _fetch(s, url, pan)
        assert out.size == (384, 256)
        assert psnr(out.crop((128, 0, 384, 256)), src) >= 35  # the original, on the right
        await _undo_to(s, url, first)

        subtle = await _turn(s, url, "/upscale 2x subtle")
        data, out = await _fetch(s, url, subtle)
        assert out.size == (512, 512)
        assert psnr(out.resize(src.size, Image.Resampling.LANCZOS), src) >= 30
        manifest = prov.verify(data).manifest
        assert manifest.action == "c2pa.resized" and manifest.has_parent
        await _undo_to(s, url, first)

        creative = await _turn(s, url, "/upscale 2x creative")
        data, out = await _fetch(s, url, creative)
        assert out.size == (512, 512)
        manifest = prov.verify(data).manifest
        assert manifest.action == "c2pa.edited" and manifest.has_parent
        await _undo_to(s, url, first)

        # The same in plain words.
        for words, size in (("zoom out", (256, 256)), ("extend it to the right", (384, 256)),
                            ("upscale it", (512, 512))):
            reply = await _turn(s, url, words)
            assert (reply["images"][0]["width"], reply["images"][0]["height"]) == size, words
            await _undo_to(s, url, first)


async def test_bad_input_is_answered_and_nothing_is_queued(app_factory, settings_factory):
    running = await app_factory(settings_factory(max_upscale_side=400))
    url, runner = running.url, running.services.runner
    async with web_session() as s:
        await (await s.get(url + "/")).release()
        first = await _turn(s, url, PICTURE)
        before = runner.batches_run
        for text, said in (("/edit region=0,0,1.5,1 a sky", "outside 0 to 1"),
                           ("/edit region=0.5,0.2,0.5,1 a sky", "That region is empty"),
                           ("/edit region=0,0,1 a sky", "couldn't read"),
                           ("/upscale 2x", "above this server's 400 px limit"),
                           ("/zoom 3x", "Zooming out works by 1.5x or 2x"),
                           ("/pan", "Which way?")):
            reply = await _turn(s, url, text)
            assert reply["kind"] == "error" and said in reply["text"], (text, reply)
        for mask in ("data:image/png;base64," + base64.b64encode(b"not a png").decode(),
                     "data:text/plain;base64,aGVsbG8="):
            async with s.post(url + "/api/chat", json={
                    "text": "grass", "mask": mask, "reference": first["generation_id"]}) as resp:
                assert resp.status == 400
                assert "The mask must be a PNG picture" in (await resp.json())["error"]
        await running.settled()
        assert runner.batches_run == before and runner.queue_length == 0


async def test_an_engine_that_cannot_says_so_and_queues_nothing(demo_engine, settings_factory,
                                                                safety_gate):
    from bot.app.server import build_services, create_app

    unable = Steered(demo_engine)
    unable.capabilities = replace(demo_engine.capabilities, inpaint=False, outpaint=False,
                                  upscale=False)
    settings = settings_factory()
    services = build_services(settings, unable, None, None, safety_gate)
    server = TestServer(create_app(settings, services), host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        async with web_session() as s:
            await (await s.get(url + "/")).release()
            await _turn(s, url, PICTURE)
            before = services.runner.batches_run
            for text, said in (("/edit region=0,0,1,0.5 a sky", "cannot redraw part"),
                               ("make the top half a sunset sky", "cannot redraw part"),
                               ("/zoom 1.5", "cannot draw past a picture's edges"),
                               ("/pan right", "cannot draw past a picture's edges"),
                               ("/upscale 2x creative", "no upscaler model")):
                reply = await _turn(s, url, text)
                assert reply["kind"] == "error" and said in reply["text"], (text, reply)
            assert services.runner.batches_run == before and services.runner.queue_length == 0
    finally:
        await server.close()


class Seen:
    """The operator's image checker, with a note of every batch it was shown."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.batches: list[list[Image.Image]] = []

    async def classify(self, images):
        self.batches.append([im.copy() for im in images])
        return await self.inner.classify(images)


async def test_the_image_gate_checks_the_whole_composite(app_factory, settings_factory,
                                                         safety_gate):
    from safety.gate import SafetyGate

    seen = Seen(FlagBrightest())  # with one picture, it is the brightest: withheld
    gate = SafetyGate(safety_gate.text_classifier, seen, safety_gate.policy, safety_gate.audit)
    running = await app_factory(settings_factory(), gate=gate)
    url = running.url
    async with web_session() as s:
        await (await s.get(url + "/")).release()
        first = await _turn(s, url, "/imagine --n 2 --seed 3 a red apple on a blue background")
        assert len(first["images"]) == 1 and first["withheld"] == 1
        _, src = await _fetch(s, url, first)
        stored = len(list((running.services.settings.data_dir / "images").rglob("*.png")))
        reply = await _turn(s, url, "/edit region=0,0,1,0.5 a sunset sky")
        assert reply["kind"] == "refusal" and reply["withheld"] == 1 and not reply["images"]
        [checked] = seen.batches[-1]
        # What the gate saw is the whole picture: the region redrawn and the rest kept.
        top = box_mask(src.size, Region(0, 0, 1, 0.5))
        assert checked.size == src.size and outside_change(src, checked, top) == 0.0
        assert _moved(src, checked.convert("RGB"), top) > 0.02
        assert len(list((running.services.settings.data_dir / "images").rglob("*.png"))) == stored
