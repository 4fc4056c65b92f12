"""The trained demo model that ships in imaging/demo/weights: it loads offline through
`from_pretrained`, and its pictures show the colours a prompt asks for (measured from pixels).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from imaging.demo import (
    default_model_dir,
    display_size,
    is_trained_demo_model,
    recommended_settings,
    upscale,
)
from imaging.demo.measure import iou, measure
from imaging.demo.scenes import Scene, Thing, render


@pytest.fixture(scope="module")
def demo_pipe():
    from imaging.demo.model import load_demo_pipeline

    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # set by conftest: no hub, ever
    return load_demo_pipeline(default_model_dir())


def _generate(pipe, prompts: list[str], seed: int = 0):
    import torch

    settings = recommended_settings(default_model_dir())  # what easel runs it with
    gens = [torch.Generator().manual_seed(seed + i) for i in range(len(prompts))]
    with torch.inference_mode():
        return pipe(prompt=prompts, num_inference_steps=settings["steps"],
                    guidance_scale=settings["guidance_scale"],
                    guidance_rescale=settings["guidance_rescale"], generator=gens).images


def test_default_model_is_a_trained_diffusers_folder_without_the_text_encoder():
    path = default_model_dir()
    assert (path / "model_index.json").is_file()
    assert is_trained_demo_model(path)
    assert display_size(path) == (64, 256)
    # The text encoder comes from its pip package at load time, never from a copy here.
    assert not (path / "text_encoder").exists()
    weights = sum(f.stat().st_size for f in path.rglob("*.safetensors"))
    assert 0 < weights < 50 * 2**20


def test_default_model_loads_offline_through_from_pretrained(demo_pipe):
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel

    from imaging.demo.text_encoder import MiniLMTextEncoder

    assert isinstance(demo_pipe, StableDiffusionPipeline)
    assert isinstance(demo_pipe.unet, UNet2DConditionModel)
    assert isinstance(demo_pipe.text_encoder, MiniLMTextEncoder)
    assert demo_pipe.unet.config.cross_attention_dim == 384


@pytest.mark.parametrize(
    ("prompt", "colour", "background"),
    [
        ("a red heart on a blue background", "red", "blue"),
        ("a large yellow star in the centre on a navy background", "yellow", "navy"),
        ("a pink flower on a navy background", "pink", "navy"),
        ("an orange fish in the sea", "orange", "sea"),
        # A colour x thing pair never seen in training (see HELD_OUT in vocab.py).
        ("a teal moon at the top at night", "teal", "night"),
    ],
)
def test_colour_prompt_yields_that_colour(demo_pipe, prompt: str, colour: str,
                                          background: str):
    images = _generate(demo_pipe, [prompt] * 3)
    measured = [measure(im) for im in images]
    # Three seeds, all must show the asked colours: a fluke cannot pass this. (Over all
    # prompts the model gets about five object colours in six right; see its card.)
    assert [m.background for m in measured] == [background] * 3
    assert [m.colour for m in measured] == [colour] * 3


def test_colour_edit_through_img2img_keeps_the_layout(demo_pipe):
    import torch
    from diffusers import AutoPipelineForImage2Image

    from bot.pipeline.picks import RECOLOUR_STRENGTH

    i2i = AutoPipelineForImage2Image.from_pipe(demo_pipe)
    i2i.set_progress_bar_config(disable=True)
    sources = _generate(demo_pipe, ["a big blue house in the centre on a gray background"] * 2)
    # As easel runs "make it red": the rewritten prompt, the recolour strength, and about as
    # many real steps as a new picture (ceil(4 / 0.7) = 6, of which 4 run).
    with torch.inference_mode():
        edits = i2i(prompt=["a big red house in the centre on a gray background"] * 2,
                    image=sources, strength=RECOLOUR_STRENGTH, num_inference_steps=6,
                    guidance_scale=3.0,
                    generator=[torch.Generator().manual_seed(10 + i) for i in range(2)]).images
    for source, edit in zip(sources, edits, strict=True):
        before, after = measure(source), measure(edit)
        assert (before.colour, after.colour) == ("blue", "red")
        assert after.background == "gray"
        assert iou(before.mask, after.mask) >= 0.6


def test_pictures_are_upscaled_for_display(demo_pipe):
    image = _generate(demo_pipe, ["a pink flower on a green background"])[0]
    assert image.size == (64, 64)
    big = upscale(image, (256, 256))
    assert big.size == (256, 256)
    assert measure(big).colour == measure(image).colour  # upscaling keeps what it shows


def test_measurements_read_the_generators_own_drawings():
    rng = np.random.default_rng(0)
    scene = Scene("sky", (Thing("car", "red", "left", "large"),))
    m = measure(render(scene, rng)[0])
    assert (m.background, m.colour, m.position) == ("sky", "red", "left")


def test_text_embeddings_do_not_depend_on_padding():
    import torch

    from imaging.demo.text_encoder import load_text_encoder, load_tokenizer

    tok, enc = load_tokenizer(), load_text_encoder()
    short = tok(["a red heart"], padding="max_length", max_length=tok.model_max_length,
                return_tensors="pt").input_ids
    with torch.inference_mode():
        full = enc(short).last_hidden_state
        trimmed = enc(short[:, :6]).last_hidden_state
    n = int((short != tok.pad_token_id).sum())
    assert torch.allclose(full[0, :n], trimmed[0, :n], atol=1e-5)
    assert full[0, n:].abs().max() == 0  # padded positions are zeros, not noise


def test_the_built_wheel_ships_the_demo_model(tmp_path):
    """What `pip install easelbot` gets: build the wheel from this checkout (setuptools, as
    pyproject says; no isolated build env, so nothing is downloaded) and look inside it. A
    pattern missing from [tool.setuptools.package-data] makes the installed easel lose its
    default model while every test run from the checkout still passes."""
    import shutil
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parents[2]
    weights = Path(default_model_dir())
    assert weights.is_relative_to(root / "imaging")  # shipped as package data, not fetched
    # Build from a copy: an in-tree build would write build/ and *.egg-info into the repo.
    src = tmp_path / "src"
    shutil.copytree(root, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".easel-data", "_train"))
    out = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--no-index", "--disable-pip-version-check", "-q", "-w", str(out), str(src)],
                   check=True, capture_output=True, text=True)
    [wheel] = out.glob("easelbot-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        shipped = {n: zf.read(n) for n in zf.namelist()
                   if n.startswith("imaging/demo/weights/")}
    prefix = weights.relative_to(root).as_posix()
    wanted = {f"{prefix}/{f.relative_to(weights).as_posix()}": f.read_bytes()
              for f in weights.rglob("*") if f.is_file()
              and not {"_train", "__pycache__"} & set(f.relative_to(weights).parts)}
    # What the loader reads: the pipeline index, the demo marker, the model card, every
    # component's config and its safetensors weights.
    for name in ("model_index.json", "easel_demo_model.json", "MODEL_CARD.md",
                 "scheduler/scheduler_config.json", "unet/config.json", "vae/config.json",
                 "unet/diffusion_pytorch_model.safetensors",
                 "vae/diffusion_pytorch_model.safetensors"):
        assert f"{prefix}/{name}" in shipped, f"the wheel lacks {name}"
    assert sorted(shipped) == sorted(wanted)  # every file of the model folder, no more
    assert all(shipped[n] == wanted[n] for n in wanted)  # byte for byte (no LFS pointers)
