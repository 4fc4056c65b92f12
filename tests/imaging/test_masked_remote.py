"""Masked edits and upscales on the remote engines, against their loopback fakes: OpenAI's
edits endpoint with a transparent-where-redrawn `mask` PNG, and ComfyUI's mask and upscale
workflows with the mask uploaded like the picture."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import numpy as np
import pytest
from PIL import Image, ImageDraw

from imaging.engine import GenerationError, ImageRequest
from imaging.engines.codecs import alpha_mask_png, png_bytes
from imaging.engines.comfyui_workflow import Workflow, WorkflowError
from imaging.engines.config import parse_engines
from imaging.engines.registry import EngineSet, build_engines
from tests.support.fake_comfyui import comfyui
from tests.support.fake_images_api import KEY, images_api

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _engines(table: dict) -> EngineSet:
    file = parse_engines({"engine": [table]}, {"OPENAI_API_KEY": KEY}, base_dir=DEPLOY)
    return build_engines(file, lambda spec: pytest.fail("no local engine here"))


def _openai(url: str, model: str) -> dict:
    return {"name": "img", "kind": "openai", "base_url": f"{url}/v1", "model": model,
            "api_key_env": "OPENAI_API_KEY"}


def _masked(size: tuple[int, int], box: tuple[int, int, int, int], **kw) -> ImageRequest:
    source = Image.new("RGB", size, (10, 200, 10))
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return ImageRequest("a red door", init_image=source, mask=mask, **kw)


# ---- OpenAI ----------------------------------------------------------------------------
async def test_openai_sends_the_mask_as_a_png_transparent_exactly_where_to_redraw():
    async with images_api() as fake:
        engines = _engines(_openai(fake.url, "gpt-image-1"))
        engine = engines.get("img").engine
        req = _masked((640, 480), (100, 50, 299, 249), width=1024, height=1024)
        [result] = await engine.agenerate([req])
        await engines.aclose()
    [call] = fake.calls
    assert call.path == "/v1/images/edits" and call.files["mask"][:8] == b"\x89PNG\r\n\x1a\n"
    assert call.body == {"prompt": "a red door", "n": 1, "size": "1024x1024",
                         "model": "gpt-image-1"}
    assert call.mask is not None and call.mask.size == (640, 480)
    alpha = np.asarray(call.mask.getchannel("A"))
    wanted = np.asarray(req.mask) == 255
    assert (alpha[wanted] == 0).all() and (alpha[~wanted] == 255).all()
    assert len(result.images) == 1
    caps = engine.capabilities
    assert caps.operations() == ["edit", "inpaint", "outpaint"]  # no upscale on a remote API


async def test_dall_e_2_takes_masked_edits_and_dall_e_3_none():
    async with images_api() as fake:
        engines = _engines(_openai(fake.url, "dall-e-2"))
        engine = engines.get("img").engine
        [result] = await engine.agenerate([_masked((512, 512), (0, 0, 255, 511), width=512,
                                                   height=512)])
        assert len(result.images) == 1 and fake.calls[0].mask is not None
        # A plain edit is still refused: dall-e-2 needs transparency to know what to edit.
        with pytest.raises(GenerationError, match="cannot edit pictures"):
            await engine.agenerate([ImageRequest("x", width=512, height=512,
                                                 init_image=Image.new("RGB", (512, 512)))])
        assert engine.capabilities.operations() == ["inpaint", "outpaint"]
        await engines.aclose()
        engines = _engines(_openai(fake.url, "dall-e-3"))
        engine = engines.get("img").engine
        with pytest.raises(GenerationError, match="cannot redraw part of a picture"):
            await engine.agenerate([_masked((1024, 1024), (0, 0, 9, 9), width=1024,
                                            height=1024)])
        await engines.aclose()
    assert engine.capabilities.operations() == [] and len(fake.calls) == 1


@pytest.mark.parametrize("mask, needle", [
    (alpha_mask_png(Image.new("L", (32, 32), 255)), "same dimensions"),
    (png_bytes(Image.new("RGB", (64, 64))), "got RGB"),  # no alpha: nothing says where
])
async def test_the_fake_refuses_a_mask_the_service_would_refuse(mask: bytes, needle: str):
    form = aiohttp.FormData()
    form.add_field("image", png_bytes(Image.new("RGB", (64, 64))), filename="image.png",
                   content_type="image/png")
    form.add_field("mask", mask, filename="mask.png", content_type="image/png")
    form.add_field("prompt", "x")
    async with images_api() as fake, aiohttp.ClientSession() as session:
        async with session.post(f"{fake.url}/v1/images/edits", data=form,
                                headers={"Authorization": f"Bearer {KEY}"}) as resp:
            answer = await resp.json()
    assert resp.status == 400 and needle in answer["error"]["message"]


# ---- ComfyUI -----------------------------------------------------------------------------
def _comfy(url: str, **extra) -> dict:
    return {"name": "comfy", "kind": "comfyui", "base_url": url,
            "workflow": "comfyui/txt2img.json", "edit_workflow": "comfyui/img2img.json",
            "mask_workflow": "comfyui/inpaint.json", "upscale_workflow": "comfyui/upscale.json",
            "steps": 3, **extra}


async def test_comfyui_uploads_the_mask_and_runs_the_mask_workflow():
    async with comfyui() as fake:
        engines = _engines(_comfy(fake.url))
        engine = engines.get("comfy").engine
        req = _masked((512, 384), (128, 128, 255, 255), width=512, height=384, steps=3)
        [result] = await engine.agenerate([req])
        await engines.aclose()
    [graph] = fake.prompts
    assert len(fake.uploads) == 2  # the picture and its mask, both through /upload/image
    mask = fake.loaded(graph, "LoadImageMask")
    assert mask is not None and mask.size == (512, 384) and mask.tobytes() == req.mask.tobytes()
    assert graph["12"]["inputs"]["channel"] == "red"
    assert graph["3"]["inputs"]["denoise"] == 1.0  # a masked edit redraws afresh by default
    assert graph["13"]["class_type"] == "SetLatentNoiseMask"
    out = np.asarray(result.images[0], int)
    inside = np.asarray(req.mask) == 255
    assert result.images[0].size == (512, 384)
    assert (out[~inside] == (10, 200, 10)).all() and not (out[inside] == (10, 200, 10)).all()
    assert engine.capabilities.operations() == ["edit", "inpaint", "outpaint", "upscale"]


async def test_comfyui_runs_the_upscale_workflow_for_an_edit_at_a_larger_size():
    async with comfyui() as fake:
        engines = _engines(_comfy(fake.url))
        engine = engines.get("comfy").engine
        small = Image.new("RGB", (256, 256), (200, 10, 10))
        [up] = await engine.agenerate([ImageRequest("sharper", width=512, height=512, steps=3,
                                                     init_image=small, strength=0.3)])
        [same] = await engine.agenerate([ImageRequest("bluer", width=256, height=256, steps=3,
                                                       init_image=small)])
        await engines.aclose()
    upscale, edit = fake.prompts
    assert upscale["12"]["class_type"] == "ImageScale"
    assert (upscale["12"]["inputs"]["width"], upscale["3"]["inputs"]["denoise"]) == (512, 0.3)
    assert "12" not in edit and edit["3"]["inputs"]["denoise"] == 0.6
    assert up.images[0].size == (512, 512) and same.images[0].size == (256, 256)


async def test_comfyui_without_a_mask_workflow_says_so():
    async with comfyui() as fake:
        engines = _engines({"name": "comfy", "kind": "comfyui", "base_url": fake.url,
                            "workflow": "comfyui/txt2img.json"})
        engine = engines.get("comfy").engine
        with pytest.raises(GenerationError, match="no mask workflow"):
            await engine.agenerate([_masked((64, 64), (0, 0, 9, 9), width=64, height=64)])
        await engines.aclose()
    assert engine.capabilities.operations() == [] and not fake.prompts


async def test_the_fake_comfyui_refuses_a_file_it_never_received():
    graph = Workflow.load(DEPLOY / "comfyui/inpaint.json", mask=True).fill(
        {"prompt": "p", "seed": 1, "steps": 1, "image": "never-sent.png",
         "mask": "never-sent-either.png", "denoise": 1.0})
    async with comfyui() as fake, aiohttp.ClientSession() as session:
        async with session.post(f"{fake.url}/prompt", json={"prompt": graph}) as resp:
            answer = await resp.json()
    assert resp.status == 400 and set(answer["node_errors"]) == {"10", "12"}
    assert not fake.prompts


def test_mask_placeholders_belong_to_mask_workflows():
    txt2img = {"1": {"class_type": "KSampler", "inputs": {"text": "{{prompt}}"}}}
    with pytest.raises(WorkflowError, match="needs a \"{{mask}}\""):
        Workflow.parse({**txt2img, "2": {"class_type": "LoadImage",
                                         "inputs": {"image": "{{image}}"}}}, mask=True)
    with pytest.raises(WorkflowError, match="mask_workflow only"):
        Workflow.parse({**txt2img, "2": {"class_type": "LoadImageMask",
                                         "inputs": {"image": "{{mask}}"}}})
    assert {"image", "mask", "denoise"} <= Workflow.load(DEPLOY / "comfyui/inpaint.json",
                                                         mask=True).used
    assert {"image", "width", "height"} <= Workflow.load(DEPLOY / "comfyui/upscale.json",
                                                         edit=True).used
