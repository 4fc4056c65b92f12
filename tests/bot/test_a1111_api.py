"""The AUTOMATIC1111-compatible API on the real app (EASEL_API=on), called the way three
real clients call it, request by request and body by body, as their sources show:

- SillyTavern: its server's A1111 routes, src/endpoints/stable-diffusion.js, and the body
  its image extension sends there, public/scripts/extensions/stable-diffusion/index.js
  (`generateAutoImage`), both at SillyTavern/SillyTavern@ba6f7b7a98cf7a5eaf4f0e81da9779a9a668ced4;
  the options read before `/generate` (its Forge check) is from the same file at
  02903fdd3ad33dc642fb328e43d0a8b3724e1a38. The server forwards the extension's whole
  body (with its `url` and `auth`) to txt2img, with `Authorization: Basic base64(auth)`.
- LibreChat: api/app/clients/tools/structured/StableDiffusion.js at
  danny-avila/LibreChat@00b3bc32f0f5dd65befa49a0773dae7d26d8e587 (`axios.post` of its
  payload to `${SD_WEBUI_URL}/sdapi/v1/txt2img`; credentials ride in the URL).
- Open WebUI: backend/open_webui/routers/images.py at
  open-webui/open-webui@02530d501461ce58ab06231d7c2ef2024a141ddf (`get_models`,
  `set_image_model`, `image_generations`; `AUTOMATIC1111_API_AUTH` as Basic).

img2img bodies use A1111's own field names (modules/api/models.py): none of the three
sends one.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from PIL import Image, ImageDraw

from bot.state.keys import FileKeyStore
from imaging.engines.config import parse_engines
from imaging.engines.registry import build_engines
from tests.support.engines import Steered
from tests.support.fake_images_api import KEY, images_api
from tests.support.helpers import serve_app

ST_NEGATIVE = ("lowres, bad anatomy, bad hands, text, error, cropped, worst quality, low "
               "quality, normal quality, jpeg artifacts, signature, watermark, username, blurry")


async def _key(settings, name: str, **limits: int) -> str:
    key, _ = await FileKeyStore(settings.data_dir / "api-keys.json").create(name, **limits)
    return key


def _basic(user_and_password: str) -> str:
    """What SillyTavern's getBasicAuthHeader and Open WebUI's get_automatic1111_api_auth send."""
    return "Basic " + base64.b64encode(user_and_password.encode()).decode()


@asynccontextmanager
async def deployment(settings, demo_engine, gate):
    """Three models: the demo model, a 2-step variant of it, and a dall-e-3 on a loopback
    OpenAI (it cannot inpaint)."""
    async with images_api() as openai:
        file = parse_engines({"engine": [
            {"name": "demo", "kind": "diffusers"},
            {"name": "sketch", "kind": "diffusers", "steps": 2, "guidance": 5.0},
            {"name": "dalle", "kind": "openai", "base_url": f"{openai.url}/v1",
             "model": "dall-e-3", "api_key_env": "OPENAI_API_KEY"},
        ]}, {"OPENAI_API_KEY": KEY}, base_dir=Path("."))
        engines = build_engines(file, lambda spec: demo_engine)
        async with serve_app(settings, engines, gate) as running:
            yield running


def _png(data_b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data_b64)))


def _b64(image: Image.Image) -> str:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


async def test_sillytavern_lists_picks_a_model_and_draws(
        settings_factory, demo_engine, safety_gate):
    settings = settings_factory(api="on")
    key = await _key(settings, "sillytavern")
    async with deployment(settings, demo_engine, safety_gate) as (url, _), \
            aiohttp.ClientSession() as s:
        auth = {"Authorization": _basic(f"sillytavern:{key}")}  # its `auth` setting

        async def get(path: str):
            async with s.get(url + "/sdapi/v1/" + path, headers=auth) as r:
                assert r.status == 200, await r.text()
                return await r.json()

        assert "sd_model_checkpoint" in await get("options")  # /ping
        assert [m["title"] for m in await get("sd-models")] == ["demo", "sketch", "dalle"]
        assert [x["name"] for x in await get("samplers")]
        assert [x["name"] for x in await get("schedulers")]
        upscalers = [x["name"] for x in await get("upscalers")]
        upscalers[1:1] = [x["name"] for x in await get("latent-upscale-modes")]
        assert upscalers[0] == "None"
        assert [x["model_name"] for x in await get("sd-vae")] == []  # /vaes
        assert (await get("options"))["sd_model_checkpoint"] == "demo"  # /get-model

        # /set-model: the options, then progress until it is idle.
        async with s.post(url + "/sdapi/v1/options", headers=auth,
                          data=json.dumps({"sd_model_checkpoint": "sketch"}),
                          ) as r:
            assert r.status == 200
        state = await get("progress")
        assert state["progress"] == 0.0 and state["state"]["job_count"] == 0

        # /generate: the Forge check, then the extension's body as it arrives.
        assert "forge_preset" not in await get("options")
        body = {
            "url": url, "auth": f"sillytavern:{key}",
            "prompt": "best quality, absurdres, aesthetic, a red heart on a blue background",
            "negative_prompt": ST_NEGATIVE, "sampler_name": "DDIM", "scheduler": "normal",
            "steps": 20, "cfg_scale": 7, "width": 512, "height": 512, "restore_faces": False,
            "enable_hr": False, "hr_upscaler": "Latent", "hr_scale": 2.0,
            "denoising_strength": 0.7, "hr_second_pass_steps": 0,
            "override_settings": {"CLIP_stop_at_last_layers": 1},
            "override_settings_restore_afterwards": True, "clip_skip": 1,
            "save_images": True, "send_images": True, "do_not_save_grid": False,
            "do_not_save_samples": False,
        }
        async with s.post(url + "/sdapi/v1/txt2img", data=json.dumps(body),
                          headers={**auth, "Content-Type": "application/json"}) as r:
            assert r.status == 200, await r.text()
            data = await r.json()
        picture = _png(data["images"][0])  # what the extension saves: images[0]
        assert picture.format == "PNG" and picture.size == (512, 512)
        info = json.loads(data["info"])
        assert info["sd_model_name"] == "sketch" and info["steps"] == 20
        assert info["seed"] == info["all_seeds"][0] and info["width"] == 512
        assert data["parameters"]["prompt"] == body["prompt"] and "auth" not in data["parameters"]
        # The picture is easel's stored one (watermarked and signed), served at /images/.
        async with s.get(url + "/images/" + info["easel_image_ids"][0]) as r:
            assert await r.read() == base64.b64decode(data["images"][0])


async def test_open_webui_sets_its_model_and_generates(
        settings_factory, demo_engine, safety_gate):
    settings = settings_factory(api="on")
    key = await _key(settings, "open-webui")
    other = await _key(settings, "someone-else")
    async with deployment(settings, demo_engine, safety_gate) as (url, _), \
            aiohttp.ClientSession() as s:
        headers = {"authorization": _basic(f"admin:{key}")}  # AUTOMATIC1111_API_AUTH

        # get_models
        async with s.get(f"{url}/sdapi/v1/sd-models", headers=headers) as r:
            models = [{"id": m["title"], "name": m["model_name"]} for m in await r.json()]
        assert {"id": "sketch", "name": "sketch"} in models

        # set_image_model: read the options, change the checkpoint, post them all back.
        async with s.get(f"{url}/sdapi/v1/options", headers=headers) as r:
            options = await r.json()
        assert options["sd_model_checkpoint"] != "sketch"
        options["sd_model_checkpoint"] = "sketch"
        async with s.post(f"{url}/sdapi/v1/options", json=options, headers=headers) as r:
            r.raise_for_status()

        # image_generations
        data = {"prompt": "a lighthouse at night", "batch_size": 2, "width": 512,
                "height": 512, "steps": 8, "negative_prompt": "fog"}
        async with s.post(f"{url}/sdapi/v1/txt2img", json=data, headers=headers) as r:
            res = await r.json(content_type=None)
        assert len(res["images"]) == 2
        assert all(_png(image).size == (512, 512) for image in res["images"])
        info = json.loads(res["info"])
        assert info["sd_model_name"] == "sketch" and len(set(info["all_seeds"])) == 2

        # The checkpoint is this key's: another key still draws with the default.
        async with s.get(f"{url}/sdapi/v1/options",
                         headers={"authorization": _basic(f"x:{other}")}) as r:
            assert (await r.json())["sd_model_checkpoint"] == "demo"


async def test_librechat_tool_draws_at_its_size(settings_factory, demo_engine, safety_gate):
    settings = settings_factory(api="on", metrics="on")
    key = await _key(settings, "librechat")
    async with deployment(settings, demo_engine, safety_gate) as (url, _), \
            aiohttp.ClientSession() as s:
        host = url.removeprefix("http://")
        sd_webui_url = f"http://librechat:{key}@{host}"  # SD_WEBUI_URL, credentials inline
        payload = {"prompt": "photo of a lighthouse, coastline, overcast weather, waves",
                   "negative_prompt": "semi-realistic, cgi, 3d, render, sketch, cartoon",
                   "cfg_scale": 4.5, "steps": 22, "width": 1024, "height": 1024}
        async with s.post(f"{sd_webui_url}/sdapi/v1/txt2img", json=payload) as r:
            assert r.status == 200, await r.text()
            generation = await r.json()
        image = generation["images"][0]
        info = json.loads(generation["info"])
        assert (info["width"], info["height"]) == (1024, 1024)
        assert _png(image).size == (1024, 1024) and isinstance(info["seed"], int)
        generation_info = info["infotexts"][0].split("\n").pop()
        assert generation_info.startswith("Steps: 22, Sampler: ")
        assert f"Seed: {info['seed']}, Size: 1024x1024, Model: demo" in generation_info
        async with s.get(url + "/metrics") as r:
            metrics = await r.text()
    assert ('easel_api_requests_total{api="a1111",endpoint="txt2img",key="librechat",'
            'status="200"} 1.0') in metrics
    assert 'easel_api_images_total{api="a1111",key="librechat"} 1.0' in metrics


async def test_img2img_edits_inpaints_and_refuses_bad_masks(
        settings_factory, demo_engine, safety_gate):
    settings = settings_factory(api="on")
    key = await _key(settings, "script")
    source = Image.new("RGB", (256, 256), (30, 60, 200))
    ImageDraw.Draw(source).ellipse((64, 64, 192, 192), fill=(220, 30, 30))
    mask = Image.new("L", (256, 256), 0)
    ImageDraw.Draw(mask).rectangle((0, 0, 127, 255), fill=255)  # white = redraw
    async with deployment(settings, demo_engine, safety_gate) as (url, _), \
            aiohttp.ClientSession(auth=aiohttp.BasicAuth("script", key)) as s:

        async def img2img(**fields):
            body = {"prompt": "a green heart on a blue background", "seed": 4,
                    "init_images": ["data:image/png;base64," + _b64(source)], **fields}
            async with s.post(url + "/sdapi/v1/img2img", json=body) as r:
                return r.status, await r.json()

        status, edited = await img2img(denoising_strength=0.6)
        assert status == 200 and _png(edited["images"][0]).size == (256, 256)
        info = json.loads(edited["info"])
        assert info["denoising_strength"] == 0.6 and "Denoising strength: 0.6" in \
            info["infotexts"][0]
        assert edited["parameters"]["init_images"] is None  # not echoed back

        status, inpainted = await img2img(mask=_b64(mask), denoising_strength=0.9)
        assert status == 200, inpainted
        assert _png(inpainted["images"][0]).size == (256, 256)

        status, error = await img2img(mask=_b64(mask.resize((128, 128))))
        assert status == 422 and "same size" in error["detail"]
        assert set(error) == {"error", "detail", "body", "errors"}  # A1111's error shape
        status, error = await img2img(mask=_b64(mask),
                                      override_settings={"sd_model_checkpoint": "dalle"})
        assert status == 422 and "cannot inpaint" in error["detail"]
        status, error = await img2img(init_images=["bm90IGEgcGljdHVyZQ=="])
        assert status == 422


async def test_keys_unknown_models_bad_bodies_refusals_and_quotas(
        settings_factory, demo_engine, safety_gate):
    settings = settings_factory(api="on")
    key = await _key(settings, "tight", images_per_minute=1)
    async with deployment(settings, demo_engine, safety_gate) as (url, _), \
            aiohttp.ClientSession() as s:
        txt2img = url + "/sdapi/v1/txt2img"
        for headers in ({}, {"Authorization": _basic("tight:easel-wrong")},
                        {"Authorization": _basic("tight")}):
            async with s.post(txt2img, json={"prompt": "a cat"}, headers=headers) as r:
                assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Basic")
                assert (await r.json())["detail"] == "Incorrect username or password"
        auth = {"Authorization": _basic(f"tight:{key}")}
        async with s.post(url + "/sdapi/v1/options", json={"sd_model_checkpoint": "nope"},
                          headers=auth) as r:
            assert r.status == 404 and "'nope' not found" in (await r.json())["detail"]
        async with s.post(txt2img, headers=auth, json={
                "prompt": "a cat", "override_settings": {"sd_model_checkpoint": "nope"}}) as r:
            assert r.status == 404
        async with s.post(txt2img, data=b"{not json", headers=auth) as r:
            assert r.status == 422 and (await r.json())["error"] == "RequestValidationError"
        async with s.post(txt2img, json={"prompt": "a cat", "width": "wide"}, headers=auth) as r:
            assert r.status == 422 and "width" in (await r.json())["detail"]
        for bad in ([], 3, {"prompt": 5}, {"prompt": ""}, {"prompt": "a", "width": 0},
                    {"prompt": "a", "width": 99999}, {"prompt": "a", "batch_size": 0},
                    {"prompt": "a", "batch_size": 9}, {"prompt": "a", "seed": 2**64},
                    {"prompt": "a", "steps": 0}, {"prompt": "a", "styles": "x"}):
            async with s.post(txt2img, json=bad, headers=auth) as r:
                assert r.status == 422, (bad, r.status, await r.text())
        img2img = url + "/sdapi/v1/img2img"
        for bad in ({"prompt": "a", "init_images": []}, {"prompt": "a", "init_images": ["%%"]},
                    {"prompt": "a", "init_images": ["aGVsbG8="], "denoising_strength": 2}):
            async with s.post(img2img, json=bad, headers=auth) as r:
                assert r.status == 422, (bad, r.status, await r.text())
        async with s.post(txt2img, headers=auth, json={
                "prompt": "a nude woman lying on a bed, explicit, nsfw"}) as r:
            body = await r.json()
            assert r.status == 400 and body["error"] == "ModerationBlocked"
            assert "nude" not in body["detail"]
        async with s.post(txt2img, json={"prompt": "a red ball", "width": 256, "height": 256},
                          headers=auth) as r:
            assert r.status == 200
        async with s.post(txt2img, json={"prompt": "a blue ball"}, headers=auth) as r:
            assert r.status == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
            assert "1 images per minute" in (await r.json())["detail"]


async def test_progress_and_interrupt_follow_this_keys_job(
        settings_factory, demo_engine, safety_gate):
    settings = settings_factory(api="on")
    key = await _key(settings, "sillytavern")
    engine = Steered(demo_engine, hold_at=2)
    async with serve_app(settings, engine, safety_gate) as (url, services), \
            aiohttp.ClientSession(auth=aiohttp.BasicAuth("st", key)) as s:
        async def draw():
            async with s.post(url + "/sdapi/v1/txt2img",
                              json={"prompt": "a slow tower", "steps": 4}) as r:
                return r.status, await r.json()

        drawing = asyncio.create_task(draw())
        await asyncio.to_thread(engine.at_hold.wait, 30)
        async with s.get(url + "/sdapi/v1/progress") as r:
            state = await r.json()
        assert state["state"]["job_count"] == 1 and state["state"]["sampling_steps"] == 4
        assert 0 < state["progress"] < 1 and state["state"]["job"].startswith("task(")
        async with s.post(url + "/sdapi/v1/interrupt") as r:  # SillyTavern's stop button
            assert r.status == 200
        engine.release.set()
        status, answer = await drawing
        assert status == 409 and answer["error"] == "Interrupted"
        async with s.get(url + "/sdapi/v1/progress") as r:
            assert (await r.json())["state"]["job_count"] == 0
        assert not await services.runner.jobs_for("key:sillytavern")
