"""The canvas tools on the demo model: region edit (box and mask), zoom out, pan, upscale
(the engine's hi-res fix and a random-weight spandrel model), quotas by area, and the
inputs they refuse before anything is queued."""

from __future__ import annotations

import base64
import importlib
import io
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from imaging.canvas import Region, SpandrelUpscaler, box_mask, pan_canvas, zoom_canvas
from imaging.canvas.metrics import outside_change, psnr, seam_energy_ratio
from imaging.canvas.spandrel_compat import import_spandrel
from imaging.engines.registry import EngineSet, NamedEngine
from imaging.jobs import LocalJobRunner, QuotaConfig, QuotaExceeded, Quotas
from imaging.store import FileImageStore
from tests.support.engines import Steered
from tools.base import ToolArgsError, ToolContext, ToolRegistry
from tools.canvas import Canvas, PanTool, RegionEditTool, ZoomOutTool
from tools.engine_plan import OperationUnsupported
from tools.image import GenerateImageTool, ImageLimits
from tools.upscale import UpscaleTool

PROMPT = "a red apple on a blue background"


@dataclass
class Kit:
    runner: LocalJobRunner
    store: FileImageStore
    tools: ToolRegistry
    checked: list[list[Image.Image]]

    async def call(self, name: str, **args) -> list[Image.Image]:
        result = await self.tools.call(name, args, ToolContext("c", "ada"))
        self.last_text = result.text
        return [await self.store.open(i.image_id) for i in result.images]

    async def picture(self) -> tuple[str, Image.Image]:
        result = await self.tools.call("generate_image", {"prompt": PROMPT, "seed": 5},
                                       ToolContext("c", "ada"))
        image_id = result.images[0].image_id
        return image_id, await self.store.open(image_id)


@pytest.fixture
async def kit_factory(demo_engine, tmp_path: Path):
    runners: list[LocalJobRunner] = []

    def make(engine=demo_engine, *, upscaler=None, max_upscale_side=2048,
             quotas: Quotas | None = None) -> Kit:
        runner = LocalJobRunner(engine, quotas=quotas)
        runners.append(runner)
        store = FileImageStore(tmp_path / f"images{len(runners)}")
        checked: list[list[Image.Image]] = []

        async def check(images, user_id):
            checked.append(list(images))
            return [True] * len(images), None

        generate = GenerateImageTool(runner, store, ImageLimits((256, 256), 4, 3.0), check)
        canvas = Canvas(generate, EngineSet([NamedEngine("demo", "diffusers", engine, "")]),
                        upscaler=upscaler, max_upscale_side=max_upscale_side, quotas=quotas)
        return Kit(runner, store, ToolRegistry([generate, RegionEditTool(canvas),
                                                ZoomOutTool(canvas), PanTool(canvas),
                                                UpscaleTool(canvas)]), checked)

    yield make
    for runner in runners:
        await runner.close()


def _png(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _inside_change(src: Image.Image, out: Image.Image, mask: Image.Image) -> float:
    inside = np.asarray(mask) >= 128
    diff = np.abs(np.asarray(out, dtype=float) - np.asarray(src.convert("RGB"), dtype=float))
    return float(diff[inside].mean() / 255)


async def test_a_region_edit_by_box_redraws_the_box_and_keeps_every_other_pixel(kit_factory):
    kit = kit_factory()
    image_id, src = await kit.picture()
    [out] = await kit.call("edit_region", image_id=image_id, prompt="a green field",
                           region="0,0.5,1,1")
    mask = box_mask(src.size, Region(0, 0.5, 1, 1))
    assert out.size == src.size
    assert outside_change(src, out, mask) == 0.0  # exactly the source outside (no stamp here)
    assert _inside_change(src, out, mask) > 0.02  # and the region was redrawn
    # Checkpoint 3 saw the whole composite, not the region alone.
    final = kit.checked[-1][0]
    assert final.size == src.size and np.array_equal(np.asarray(final), np.asarray(out))


async def test_a_drawn_mask_and_a_mask_of_the_wrong_size(kit_factory):
    kit = kit_factory()
    image_id, src = await kit.picture()
    drawn = Image.new("L", src.size, 0)
    drawn.paste(255, (0, 0, 128, 128))  # the top left quarter, painted white
    [out] = await kit.call("edit_region", image_id=image_id, prompt="grass", mask_png=_png(drawn))
    assert outside_change(src, out, drawn) == 0.0 and _inside_change(src, out, drawn) > 0.02
    assert "resized" not in kit.last_text
    # Strokes on a transparent layer at half the size: resized (nearest), and the user told.
    layer = Image.new("RGBA", (128, 128), (0, 0, 0, 0))
    layer.paste((200, 30, 30, 255), (64, 64, 128, 128))
    [out] = await kit.call("edit_region", image_id=image_id, prompt="grass", mask_png=_png(layer))
    quarter = box_mask(src.size, Region(0.5, 0.5, 1, 1))
    assert outside_change(src, out, quarter) == 0.0
    assert "resized it to 256x256" in kit.last_text


async def test_zoom_out_2x_keeps_the_source_at_half_scale_in_the_centre(kit_factory):
    kit = kit_factory()
    image_id, src = await kit.picture()
    [out] = await kit.call("zoom_out", image_id=image_id, prompt=PROMPT, factor=2)
    assert out.size == src.size
    half = src.resize((128, 128), Image.Resampling.LANCZOS)
    assert psnr(out.crop((64, 64, 192, 192)), half) == float("inf")
    ring = box_mask(src.size, Region(0, 0, 1, 1))
    ring.paste(0, (64, 64, 192, 192))
    assert _inside_change(Image.new("RGB", src.size), out, ring) > 0  # the border is drawn


async def test_pan_left_grows_the_width_by_half_with_the_original_on_the_right(kit_factory):
    kit = kit_factory()
    image_id, src = await kit.picture()
    [out] = await kit.call("pan", image_id=image_id, prompt=PROMPT, direction="left")
    assert out.size == (384, 256)
    assert np.array_equal(np.asarray(out.crop((128, 0, 384, 256))), np.asarray(src.convert("RGB")))
    [down] = await kit.call("pan", image_id=image_id, prompt=PROMPT, direction="down")
    assert down.size == (256, 384)
    assert np.array_equal(np.asarray(down.crop((0, 0, 256, 256))), np.asarray(src.convert("RGB")))


async def test_zoom_and_pan_hide_their_seams_on_a_demo_picture(kit_factory):
    """The seam ratio of what the tools deliver (bench/canvas.py's target: at most 1.5)."""
    kit = kit_factory()
    image_id, src = await kit.picture()
    [pan] = await kit.call("pan", image_id=image_id, prompt=PROMPT, direction="left", seed=3)
    assert seam_energy_ratio(pan, pan_canvas(src, "left").mask) <= 1.5
    [zoom] = await kit.call("zoom_out", image_id=image_id, prompt=PROMPT, factor=2, seed=3)
    # Shrunk to half, the demo picture's own faint frame (its outer few px) lands in the
    # band's outer half, which is the source's and is kept as it is; the inner half is
    # what compositing makes, and it must be no busier than the rest of the picture.
    assert seam_energy_ratio(zoom, zoom_canvas(src, 2).mask, side="inside") <= 1.5


async def test_upscale_subtle_stays_the_picture_and_creative_adds_its_own(kit_factory):
    kit = kit_factory()
    image_id, src = await kit.picture()
    before = kit.runner.batches_run
    [subtle] = await kit.call("upscale", image_id=image_id, prompt=PROMPT, factor=2,
                              mode="subtle")
    assert subtle.size == (512, 512)
    # 512 px is past the demo model's 256: the hi-res fix ran in overlapping tiles.
    assert kit.runner.batches_run - before > 1
    assert psnr(subtle.resize(src.size, Image.Resampling.LANCZOS), src) >= 30
    [creative] = await kit.call("upscale", image_id=image_id, prompt=PROMPT, factor=2,
                                mode="creative")
    assert creative.size == (512, 512)
    assert psnr(creative, subtle) < psnr(subtle.resize(src.size), src)  # it moved further


def _random_compact(path: Path) -> Path:
    """A random-weight 2x RealESRGAN Compact network, as spandrel builds it (no download)."""
    import_spandrel()
    arch = importlib.import_module("spandrel.architectures.Compact")
    torch.manual_seed(0)
    net = arch.Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2)
    torch.save({k: v.contiguous() for k, v in net.state_dict().items()}, path)
    return path


async def test_an_operator_upscaler_model_counts_against_quotas_by_area(kit_factory, tmp_path):
    upscaler = SpandrelUpscaler.load(_random_compact(tmp_path / "sr-2x.pth"))
    quotas = Quotas(QuotaConfig(concurrent_jobs=2, images_per_minute=5))
    kit = kit_factory(upscaler=upscaler, quotas=quotas)
    image_id, src = await kit.picture()  # 1 of the 5
    before = kit.runner.batches_run
    [big] = await kit.call("upscale", image_id=image_id, prompt=PROMPT, factor=2, mode="subtle")
    assert big.size == (512, 512)
    assert kit.runner.batches_run == before  # the model alone: no engine job
    # 512x512 is four pictures of the demo model's 256x256: 1 + 4 of 5 are used up.
    with pytest.raises(QuotaExceeded):
        await kit.call("generate_image", prompt=PROMPT)
    with pytest.raises(QuotaExceeded):
        await kit.call("upscale", image_id=image_id, prompt=PROMPT, mode="creative")
    assert kit.runner.batches_run == before and kit.runner.queue_length == 0


async def test_creative_after_an_upscaler_model_refines_through_the_engine(kit_factory,
                                                                            tmp_path):
    upscaler = SpandrelUpscaler.load(_random_compact(tmp_path / "sr-2x.pth"))
    kit = kit_factory(upscaler=upscaler)
    image_id, _ = await kit.picture()
    before = kit.runner.batches_run
    [big] = await kit.call("upscale", image_id=image_id, prompt=PROMPT, mode="creative")
    assert big.size == (512, 512) and kit.runner.batches_run > before


@pytest.mark.parametrize(("tool", "args", "said"), [
    ("edit_region", {"region": "0,0,1.5,1"}, "outside 0 to 1"),
    ("edit_region", {"region": "0.5,0.2,0.5,0.9"}, "region is empty"),
    ("edit_region", {"region": "0,0,1"}, "couldn't read"),
    ("edit_region", {"mask_png": base64.b64encode(b"not a picture").decode()}, "not a picture"),
    ("edit_region", {"mask_png": "%%%"}, "not a picture"),
    ("edit_region", {"mask_png": _png(Image.new("L", (64, 64), 0))}, "mask is empty"),
    ("upscale", {"factor": 4}, "above this server's 512 px limit; 2x would fit"),
    ("zoom_out", {"factor": 3}, "1.5 or 2"),
])
async def test_bad_input_is_refused_with_words_and_nothing_is_queued(kit_factory, tool, args,
                                                                     said):
    kit = kit_factory(max_upscale_side=512)
    image_id, _ = await kit.picture()
    before = kit.runner.batches_run
    with pytest.raises(ToolArgsError, match=said):
        await kit.call(tool, image_id=image_id, prompt="a green field", **args)
    assert kit.runner.batches_run == before and kit.runner.queue_length == 0


async def test_an_engine_that_cannot_is_refused_before_anything_is_queued(kit_factory,
                                                                          demo_engine):
    unable = Steered(demo_engine)
    unable.capabilities = replace(demo_engine.capabilities, inpaint=False, outpaint=False,
                                  upscale=False)
    kit = kit_factory(unable)
    image_id, _ = await kit.picture()
    before = kit.runner.batches_run
    for tool, args, said in [("edit_region", {"region": "0,0,1,0.5"}, "redraw part"),
                             ("zoom_out", {}, "past a picture's edges"),
                             ("pan", {"direction": "up"}, "past a picture's edges"),
                             ("upscale", {}, "no upscaler model")]:
        with pytest.raises(OperationUnsupported, match=said):
            await kit.call(tool, image_id=image_id, prompt=PROMPT, **args)
    assert kit.runner.batches_run == before and kit.runner.queue_length == 0
