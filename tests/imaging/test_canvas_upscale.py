"""Upscaling (imaging/canvas/upscale.py, tiles.py): a tiny random-weight RealESRGAN
Compact network, built with spandrel's own class and saved in tmp_path, loaded back
through `SpandrelUpscaler.load`; the size cap's message; tiles and their blending."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from imaging.canvas import (
    CanvasError,
    SpandrelUpscaler,
    UpscalerLoadError,
    blend_tiles,
    hires_tiles,
    upscale_plan,
    upscale_to,
)
from imaging.canvas.metrics import psnr
from imaging.canvas.spandrel_compat import import_spandrel


def _noise(size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def _compact(path: Path, scale: int = 2, seed: int = 0) -> Path:
    """A RealESRGAN Compact (SRVGGNetCompact) with 8 features and 2 convolutions."""
    import_spandrel()
    arch = importlib.import_module("spandrel.architectures.Compact")
    torch.manual_seed(seed)
    net = arch.Compact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=scale)
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def model_2x(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _compact(tmp_path_factory.mktemp("sr") / "compact-2x.pth")


def test_a_2x_model_doubles_the_picture_deterministically(model_2x: Path, tmp_path: Path) -> None:
    upscaler = SpandrelUpscaler.load(model_2x)
    assert upscaler.scale == 2
    picture = _noise((24, 16), 1)
    first, second = upscaler.upscale(picture), upscaler.upscale(picture)
    assert first.size == (48, 32) and first.mode == "RGB"
    assert np.array_equal(np.asarray(first), np.asarray(second))
    # The same weights as safetensors load to the same network.
    same = SpandrelUpscaler.load(_compact(tmp_path / "compact-2x.safetensors"))
    assert np.array_equal(np.asarray(same.upscale(picture)), np.asarray(first))
    assert upscaler.upscale(picture.convert("RGBA")).size == (48, 32)


def test_large_pictures_go_through_in_tiles(model_2x: Path) -> None:
    whole = SpandrelUpscaler.load(model_2x)
    tiled = SpandrelUpscaler.load(model_2x, tile=24, overlap=8)
    picture = _noise((56, 40), 2)
    expected = whole.upscale(picture)
    got = tiled.upscale(picture)
    assert got.size == expected.size == (112, 80)
    # A 3x3-convolution network sees a few pixels around each one; with the overlap
    # blended, the joins stay close to running the picture whole.
    assert psnr(got, expected) > 30


def test_a_4x_model(tmp_path: Path) -> None:
    upscaler = SpandrelUpscaler.load(_compact(tmp_path / "compact-4x.pth", scale=4))
    assert upscaler.scale == 4
    assert upscaler.upscale(_noise((10, 12), 3)).size == (40, 48)
    # Asked for 2x, a 4x model runs once and is scaled down.
    assert upscale_to(upscaler, _noise((10, 12), 3), (20, 24)).size == (20, 24)


def test_model_files_that_cannot_be_used(tmp_path: Path) -> None:
    with pytest.raises(UpscalerLoadError, match="No upscaler model file"):
        SpandrelUpscaler.load(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    torch.save({"not.a.known.layer": torch.zeros(3)}, junk)
    with pytest.raises(UpscalerLoadError, match="Could not load the upscaler model junk.pth"):
        SpandrelUpscaler.load(junk)
    text = tmp_path / "model.txt"
    text.write_text("hello")
    with pytest.raises(UpscalerLoadError, match="model.txt"):
        SpandrelUpscaler.load(text)
    with pytest.raises(UpscalerLoadError, match="not an upscaler"):
        SpandrelUpscaler.load(_compact(tmp_path / "compact-1x.pth", scale=1))


class _Doubler:
    scale = 2

    def __init__(self) -> None:
        self.calls = 0

    def upscale(self, image: Image.Image) -> Image.Image:
        self.calls += 1
        return image.resize((image.width * 2, image.height * 2))


def test_upscale_to_runs_a_2x_model_twice_for_4x() -> None:
    doubler = _Doubler()
    assert upscale_to(doubler, _noise((8, 6), 4), (32, 24)).size == (32, 24)
    assert doubler.calls == 2


def test_upscale_plan_and_its_limit() -> None:
    assert upscale_plan((512, 384), 2, 2048) == (1024, 768)
    assert upscale_plan((512, 512), 4, 2048) == (2048, 2048)
    with pytest.raises(CanvasError) as caught:
        upscale_plan((1024, 1024), 4, 2048)
    assert str(caught.value) == ("Upscaling 1024x1024 by 4x would give 4096 px, above this "
                                 "server's 2048 px limit; 2x would fit.")
    with pytest.raises(CanvasError, match=r"by 2x would give 2400 px, above this server's "
                                          r"2048 px limit\.$"):
        upscale_plan((1200, 800), 2, 2048)
    with pytest.raises(CanvasError, match="2x or 4x"):
        upscale_plan((256, 256), 3, 2048)


@pytest.mark.parametrize(("size", "tile", "overlap"), [
    ((1000, 600), 512, 64), ((512, 512), 512, 64), ((300, 1100), 256, 32), ((130, 70), 64, 0),
])
def test_hires_tiles_cover_the_picture_with_overlap(size: tuple[int, int], tile: int,
                                                    overlap: int) -> None:
    boxes = hires_tiles(size, tile, overlap)
    cover = np.zeros((size[1], size[0]), dtype=int)
    for left, top, right, bottom in boxes:
        assert 0 <= left < right <= size[0] and 0 <= top < bottom <= size[1]
        assert right - left <= tile and bottom - top <= tile
        cover[top:bottom, left:right] += 1
    assert (cover >= 1).all()
    xs = sorted({b[0] for b in boxes})
    widths = {b[0]: b[2] for b in boxes}
    for a, b in zip(xs, xs[1:], strict=False):
        assert widths[a] - b >= overlap  # neighbours share at least the overlap


def test_hires_tiles_refuse_bad_settings() -> None:
    with pytest.raises(CanvasError, match="overlap smaller than the tile"):
        hires_tiles((100, 100), 64, 64)


def test_blend_tiles_puts_the_pieces_back_and_hides_the_joins() -> None:
    picture = _noise((200, 150), 5)
    boxes = hires_tiles(picture.size, 64, 16)
    same = blend_tiles(picture.size, [(b, picture.crop(b)) for b in boxes], 16)
    assert np.array_equal(np.asarray(same), np.asarray(picture))
    # Tiles drawn in two flat shades: the overlaps blend between them, no hard line.
    shades = [(b, Image.new("RGB", (b[2] - b[0], b[3] - b[1]), (0, 0, 0) if i % 2 else
                            (160, 160, 160))) for i, b in enumerate(hires_tiles((160, 64), 64, 32))]
    row = np.asarray(blend_tiles((160, 64), shades, 32))[32, :, 0].astype(int)
    assert np.abs(np.diff(row)).max() < 20
    # A refined tile may come back at another size: it is fitted to its box.
    half = [(b, picture.crop(b).resize((32, 32))) for b in boxes]
    assert blend_tiles(picture.size, half, 16).size == picture.size
