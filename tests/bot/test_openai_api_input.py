"""Bad input to the OpenAI Images API (issue 28): every case is a 4xx in the API's own
shape, naming the field where there is one, and the server goes on serving."""

from __future__ import annotations

import aiohttp
import openai
import pytest

from bot.app.openai_wiring import API_KEYS
from tests.support.openai_api import client, mask_png, png


@pytest.fixture
async def api(app_factory, settings_factory):
    running = await app_factory(settings_factory(api="on", api_max_body_mb=25))
    key, _ = await running.app[API_KEYS].create("fuzzer")
    sdk = client(running.url, key)
    yield running, sdk, key
    await sdk.close()


async def _bad(call, param: str | None, code: str | None = None) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as caught:
        await call
    err = caught.value
    assert err.status_code == 400 and err.param == param, (err.param, err.message)
    if code is not None:
        assert err.code == code, err.code
    assert err.type == "invalid_request_error"
    return err


async def test_field_by_field(api):
    _, sdk, _ = api
    images = sdk.images
    await _bad(images.generate(prompt="a cat", size="500x500"), "size")  # not multiples of 8
    await _bad(images.generate(prompt="a cat", size="wide"), "size")
    await _bad(images.generate(prompt="a cat", n=11), "n")
    await _bad(images.generate(prompt="a cat", n=9), "n")  # over EASEL_MAX_IMAGES
    await _bad(images.generate(prompt=""), "prompt")
    await _bad(images.generate(prompt="x" * 1001), "prompt")
    await _bad(images.generate(prompt="a cat", output_format="gif"), "output_format")
    await _bad(images.generate(prompt="a cat", output_compression=101), "output_compression")
    await _bad(images.generate(prompt="a cat", background="transparent"), "background")
    await _bad(images.generate(prompt="a cat", response_format="svg"), "response_format")
    await _bad(images.generate(prompt="a cat", partial_images=4, stream=True), "partial_images")
    await _bad(images.generate(prompt="a cat", extra_body={"colour": "red"}), "colour",
               "unknown_parameter")
    with pytest.raises(openai.NotFoundError) as missing:
        await images.generate(prompt="a cat", model="no-such-engine")
    assert missing.value.code == "model_not_found" and missing.value.param == "model"
    # OpenAI's own model names stand for the default engine (clients hard-code them).
    assert len((await images.generate(prompt="a cat", model="dall-e-3")).data) == 1


async def test_pictures_and_masks(api):
    _, sdk, _ = api
    edit = sdk.images.edit
    picture = ("in.png", png(), "image/png")
    await _bad(edit(image=picture, mask=("m.png", mask_png((128, 128)), "image/png"),
                    prompt="a star"), "mask")
    await _bad(edit(image=picture, mask=("m.png", png(), "image/png"), prompt="a star"),
               "mask")  # no alpha channel: nothing says what to redraw
    await _bad(edit(image=[picture] * 17, prompt="a star"), "image")
    await _bad(edit(image=("notes.txt", b"just some text, not a picture", "text/plain"),
                    prompt="a star"), "image", "invalid_image_format")
    await _bad(edit(image=picture, prompt="a star", extra_body={"markup": "x"}), "markup",
               "unknown_parameter")
    await _bad(sdk.images.create_variation(image=("t.txt", b"GIF89a...", "image/gif")),
               "image")
    with pytest.raises(openai.BadRequestError):  # no picture at all
        await sdk.post("/images/edits", cast_to=object, body={"prompt": "a star"},
                       options={"headers": {"Content-Type": "multipart/form-data"}},
                       files=[("mask", ("m.png", mask_png(), "image/png"))])


async def test_malformed_and_oversized_bodies(api):
    running, sdk, key = api
    url = running.url + "/v1/images/edits"
    auth = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as s:
        for body, kind in (
                (b"--b\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\nhalf a part",
                 "multipart/form-data; boundary=b"),
                (b"no boundary at all", "multipart/form-data"),
                (b"{\"prompt\": ", "application/json")):
            async with s.post(url, data=body, headers={**auth, "Content-Type": kind}) as r:
                answer = await r.json()
                assert r.status == 400, answer
                assert set(answer["error"]) >= {"message", "type", "param", "code"}
        async with s.post(running.url + "/v1/images/generations", data=b"{\"prompt\": [",
                          headers={**auth, "Content-Type": "application/json"}) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "invalid_json"

    big = ("big.png", png() + b"\0" * (30 * 1024 * 1024), "image/png")
    with pytest.raises(openai.APIStatusError) as too_big:
        await sdk.images.edit(image=big, prompt="a star")
    assert too_big.value.status_code == 413
    assert too_big.value.code == "request_too_large"
    async with aiohttp.ClientSession() as s:  # streamed without a length: counted as it comes
        async def chunks():
            yield b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\n"
            for _ in range(30):
                yield b"\0" * (1024 * 1024)

        async with s.post(url, data=chunks(), headers={
                **auth, "Content-Type": "multipart/form-data; boundary=b"}) as r:
            assert r.status == 413
    # ... and it goes on serving.
    assert len((await sdk.images.generate(prompt="a cat")).data) == 1
