"""Canvas tools, the pure image side (imaging/canvas/): regions from numbers, grid cells
and words; user-drawn masks; zoom and pan canvases; compositing that keeps every pixel
outside the mask; the metrics the bench reports."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageFilter

from imaging.canvas import (
    GRID_CELLS,
    CanvasError,
    Region,
    box_mask,
    composite,
    feather_alpha,
    grid_mask,
    grid_region,
    mask_from_upload,
    pan_canvas,
    region_from_words,
    zoom_canvas,
)
from imaging.canvas.metrics import outside_change, psnr, seam_energy_ratio
from imaging.errors import ImagingError


def _noise(size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def _gradient(size: tuple[int, int]) -> Image.Image:
    """A smooth picture (horizontal and vertical ramps), where a seam would stand out."""
    w, h = size
    x = np.linspace(0, 255, w)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h)[:, None].repeat(w, 1)
    return Image.fromarray(np.stack([x, y, (x + y) / 2], -1).astype(np.uint8), "RGB")


def _on(mask: Image.Image) -> np.ndarray:
    return np.asarray(mask) == 255


# ---- regions -------------------------------------------------------------------------------

def test_region_parses_and_maps_to_pixels() -> None:
    region = Region.parse(" 0.1, 0.2,0.5 ,0.6 ")
    assert region == Region(0.1, 0.2, 0.5, 0.6)
    assert region.box((200, 100)) == (20, 20, 100, 60)
    assert Region.parse(str(region)) == region


@pytest.mark.parametrize(("text", "lead"), [
    ("0.1,0.2,0.5", "couldn't read"),
    ("a,b,c,d", "couldn't read"),
    ("0.1,0.2,0.5,0.6,0.7", "couldn't read"),
    ("0.1,0.2,1.5,0.6", "1.5 is outside 0 to 1"),
    ("-0.1,0.2,0.5,0.6", "-0.1 is outside 0 to 1"),
    ("0.5,0.2,0.5,0.6", "empty"),
    ("0.6,0.2,0.5,0.9", "empty"),
    ("nan,0,1,1", "outside 0 to 1"),
])
def test_bad_regions_say_what_a_region_is(text: str, lead: str) -> None:
    with pytest.raises(CanvasError) as caught:
        Region.parse(text)
    message = str(caught.value)
    assert lead in message
    assert "four numbers between 0 and 1: x0,y0,x1,y1 with x0 < x1 and y0 < y1" in message
    assert isinstance(caught.value, ImagingError)


def test_grid_cells_are_numbered_row_by_row() -> None:
    assert [GRID_CELLS[n].name for n in (1, 3, 5, 7, 9)] == [
        "top left", "top right", "centre", "bottom left", "bottom right"]
    assert GRID_CELLS[6].region.box((300, 300)) == (200, 100, 300, 200)
    assert grid_region({1}) == GRID_CELLS[1].region
    assert grid_region({1, 9}) == Region(0, 0, 1, 1)
    assert grid_region({2, 6}) == Region(1 / 3, 0, 1, 2 / 3)


@pytest.mark.parametrize("size", [(300, 300), (512, 384), (100, 77)])
def test_grid_masks_are_the_exact_union_of_cells(size: tuple[int, int]) -> None:
    every = grid_mask(size, set(range(1, 10)))
    assert _on(every).all()
    # The nine cells tile the picture: no gaps, no overlaps.
    total = sum(_on(grid_mask(size, {n})).astype(int) for n in range(1, 10))
    assert (total == 1).all()
    # Two diagonal cells: their union only, not the bounding box between them.
    diagonal = grid_mask(size, {1, 5})
    assert _on(diagonal).sum() == _on(grid_mask(size, {1})).sum() + _on(grid_mask(size, {5})).sum()
    assert (_on(box_mask(size, grid_region({1, 2, 4, 5}))) == _on(grid_mask(size, {1, 2, 4, 5}))).all()


@pytest.mark.parametrize("cells", [set(), {0}, {10}, {1, 12}])
def test_grid_cells_outside_one_to_nine_are_refused(cells: set[int]) -> None:
    with pytest.raises(CanvasError, match="numbered 1 to 9"):
        grid_mask((90, 90), cells)


def test_box_mask_is_255_inside_only() -> None:
    mask = box_mask((100, 50), Region(0.2, 0.2, 0.6, 1.0))
    assert mask.mode == "L" and mask.size == (100, 50)
    on = _on(mask)
    assert on[10:50, 20:60].all() and on.sum() == 40 * 40
    assert set(np.unique(np.asarray(mask))) == {0, 255}


@pytest.mark.parametrize(("text", "phrase", "region"), [
    ("add a cat in the top left corner", "top left corner", (0, 0, 0.5, 0.5)),
    ("put a moon top-right", "top-right", (0.5, 0, 1, 0.5)),
    ("a boat in the Lower Right", "Lower Right", (0.5, 0.5, 1, 1)),
    ("flowers bottom left", "bottom left", (0, 0.5, 0.5, 1)),
    ("make the upper half stormy", "upper half", (0, 0, 1, 0.5)),
    ("make the bottom half water", "bottom half", (0, 0.5, 1, 1)),
    ("a tree on the left", "on the left", (0, 0, 0.5, 1)),
    ("repaint the right side in red", "right side", (0.5, 0, 1, 1)),
    ("clouds at the top", "at the top", (0, 0, 1, 0.5)),
    ("grass in the lower third", "lower third", (0, 2 / 3, 1, 1)),
    ("the left third darker", "left third", (0, 0, 1 / 3, 1)),
    ("a sun in the centre", "centre", (0.25, 0.25, 0.75, 0.75)),
    ("a sun in the center", "center", (0.25, 0.25, 0.75, 0.75)),
    ("a dog in the middle", "middle", (0.25, 0.25, 0.75, 0.75)),
    ("a bird top centre", "top centre", (1 / 3, 0, 2 / 3, 1 / 3)),
])
def test_positional_words_name_regions(text: str, phrase: str,
                                       region: tuple[float, float, float, float]) -> None:
    found = region_from_words(text)
    assert found is not None
    assert found.phrase == phrase
    assert text[found.span[0]:found.span[1]] == phrase
    assert found.region == Region(*region)


@pytest.mark.parametrize("text", [
    "lower the brightness", "a hat on top", "a middle-aged man", "at the top of the hill",
    "make it blue", "leftover pizza",
])
def test_words_that_are_not_places(text: str) -> None:
    assert region_from_words(text) is None


def test_the_phrase_can_be_taken_out_of_the_instruction() -> None:
    text = "add a red kite in the top left corner, flying"
    found = region_from_words(text)
    assert found is not None and found.without(text) == "add a red kite, flying"
    text = "make the sky on the right stormy"
    found = region_from_words(text)
    assert found is not None and found.without(text) == "make the sky stormy"


# ---- masks users draw --------------------------------------------------------------------

def test_uploaded_masks_in_each_convention() -> None:
    expect = np.zeros((40, 60), dtype=bool)
    expect[10:30, 20:50] = True
    white_on_black = Image.fromarray(expect.astype(np.uint8) * 255, "L")
    one_bit = white_on_black.convert("1")
    # Strokes on a transparent layer, in a dark colour: the alpha marks them.
    layer = np.zeros((40, 60, 4), dtype=np.uint8)
    layer[expect] = (30, 30, 200, 255)
    strokes = Image.fromarray(layer, "RGBA")
    opaque = white_on_black.convert("RGBA")  # no transparency: luminance marks it
    for drawn in (white_on_black, one_bit, strokes, opaque, white_on_black.convert("RGB")):
        mask, resized = mask_from_upload(drawn, (60, 40))
        assert mask.mode == "L" and not resized
        assert (_on(mask) == expect).all(), drawn.mode
        assert set(np.unique(np.asarray(mask))) <= {0, 255}


def test_a_mask_of_another_size_is_resized_and_said_so() -> None:
    drawn = Image.new("L", (30, 20), 0)
    drawn.paste(255, (0, 0, 15, 20))
    mask, resized = mask_from_upload(drawn, (120, 80))
    assert resized and mask.size == (120, 80)
    assert _on(mask)[:, :60].all() and not _on(mask)[:, 60:].any()


@pytest.mark.parametrize("drawn", [
    Image.new("L", (20, 20), 0), Image.new("RGBA", (20, 20), (255, 255, 255, 0)),
    Image.new("L", (20, 20), 100),
])
def test_an_empty_mask_is_refused(drawn: Image.Image) -> None:
    with pytest.raises(CanvasError, match="mask is empty"):
        mask_from_upload(drawn, (20, 20))


# ---- zoom and pan -------------------------------------------------------------------------

def test_zoom_out_2x_puts_the_source_at_half_scale_in_the_centre() -> None:
    src = _gradient((128, 96))
    out = zoom_canvas(src, 2)
    assert out.canvas.size == out.mask.size == (128, 96)
    assert out.inner_box == (32, 24, 96, 72)
    half = src.resize((64, 48), Image.Resampling.LANCZOS)
    assert np.array_equal(np.asarray(out.canvas.crop(out.inner_box)), np.asarray(half))
    mask = _on(out.mask)
    assert not mask[24:72, 32:96].any() and mask.sum() == 128 * 96 - 64 * 48
    # The border starts from the picture's own colours, not black.
    border = np.asarray(out.canvas, dtype=float)[mask]
    assert border.mean() > 40
    assert np.abs(np.asarray(out.canvas)[0, 0].astype(int) - np.asarray(half)[0, 0]).max() < 40


def test_zoom_out_1_5x_and_other_factors() -> None:
    out = zoom_canvas(_noise((96, 96), 1), 1.5)
    assert out.canvas.size == (96, 96) and out.inner_box == (16, 16, 80, 80)
    with pytest.raises(CanvasError, match="1.5x or 2x"):
        zoom_canvas(_noise((96, 96), 1), 3)


def test_pan_left_grows_the_width_by_half_with_the_source_on_the_right() -> None:
    src = _noise((64, 48), 2)
    out = pan_canvas(src, "left")
    assert out.canvas.size == (96, 48) and out.inner_box == (32, 0, 96, 48)
    assert np.array_equal(np.asarray(out.canvas.crop(out.inner_box)), np.asarray(src))
    mask = _on(out.mask)
    assert mask[:, :32].all() and not mask[:, 32:].any()


@pytest.mark.parametrize(("direction", "size", "box"), [
    ("right", (96, 48), (0, 0, 64, 48)),
    ("up", (64, 72), (0, 24, 64, 72)),
    ("down", (64, 72), (0, 0, 64, 48)),
])
def test_pan_other_ways(direction: str, size: tuple[int, int],
                        box: tuple[int, int, int, int]) -> None:
    src = _noise((64, 48), 3)
    out = pan_canvas(src, direction)
    assert out.canvas.size == size and out.inner_box == box
    assert np.array_equal(np.asarray(out.canvas.crop(box)), np.asarray(src))
    assert not _on(out.mask.crop(box)).any() and _on(out.mask).sum() == size[0] * size[1] - 64 * 48


def test_pan_sizes_are_multiples_of_8() -> None:
    out = pan_canvas(_noise((100, 60), 4), "right")
    assert out.canvas.size == (152, 64)  # 150 -> 152; 60 -> 64, the new row drawn too
    assert _on(out.mask)[60:].all() and not _on(out.mask)[:60, :100].any()
    with pytest.raises(CanvasError, match="left, right, up or down"):
        pan_canvas(_noise((64, 64), 4), "sideways")


# ---- composite and metrics ---------------------------------------------------------------

@pytest.mark.parametrize("feather", [0, 4, 8])
def test_composite_keeps_every_pixel_outside_the_mask(feather: int) -> None:
    src, drawn = _noise((96, 80), 5), _noise((96, 80), 6)
    mask = grid_mask((96, 80), {1, 5, 9})
    out = composite(src, drawn, mask, feather_px=feather)
    outside = ~_on(mask)
    assert np.array_equal(np.asarray(out)[outside], np.asarray(src)[outside])
    assert outside_change(src, out, mask, margin=0) == 0.0
    # Deep inside the mask it is the engine's picture.
    assert np.array_equal(np.asarray(out)[40, 48], np.asarray(drawn)[40, 48])


def test_composite_feathers_inside_the_mask_and_resizes_the_engine_picture() -> None:
    src = Image.new("RGB", (64, 64), (0, 0, 0))
    drawn = Image.new("RGB", (128, 128), (200, 200, 200))  # engine returned 2x
    mask = box_mask((64, 64), Region(0.25, 0.25, 0.75, 0.75))
    out = np.asarray(composite(src, drawn, mask, feather_px=8))[32, :, 0]
    assert (out[:16] == 0).all() and (out[48:] == 0).all()
    ramp = out[16:25]
    assert (np.diff(ramp.astype(int)) >= 0).all() and 0 < ramp[0] < 50 and ramp[-1] == 200
    assert (out[24:40] == 200).all()


def _masks_of_every_shape(size: tuple[int, int]) -> list[Image.Image]:
    """Cells apart, a corner (touching two borders), a pan's strip, a zoom's ring, a pixel."""
    dot = Image.new("L", size, 0)
    dot.putpixel((size[0] // 2, size[1] // 2), 255)
    return [grid_mask(size, {1, 5, 9}), box_mask(size, Region(0, 0, 0.5, 0.5)),
            box_mask(size, Region(0, 0, 1 / 3, 1)),
            zoom_canvas(Image.new("RGB", size), 2).mask, dot]


@pytest.mark.parametrize("which", range(5))
def test_composite_feathers_exactly_as_feather_alpha_says(which: int) -> None:
    """The feather is worked out only near the mask's edge; it must be the whole-picture
    formula, pixel for pixel (up to a rounding)."""
    size = (96, 80)
    src, drawn = _noise(size, 8), _noise(size, 9)
    mask = _masks_of_every_shape(size)[which]
    alpha = feather_alpha(_on(mask), 8)[..., None]
    a, g = np.asarray(src, dtype=np.float64), np.asarray(drawn, dtype=np.float64)
    want = np.rint(a + (g - a) * alpha)
    assert np.abs(np.asarray(composite(src, drawn, mask), dtype=np.float64) - want).max() <= 1


@pytest.mark.parametrize("which", range(5))
def test_the_outpaint_blend_keeps_every_pixel_outside_the_mask(which: int) -> None:
    size = (160, 120)
    src, drawn = _noise(size, 10), _noise(size, 11)
    mask = _masks_of_every_shape(size)[which]
    out = composite(src, drawn, mask, outpaint=True)
    outside = ~_on(mask)
    assert np.array_equal(np.asarray(out)[outside], np.asarray(src)[outside])
    if which == 1:  # 80x60 px: its far corner is more than 40 px in, the engine's own
        assert np.array_equal(np.asarray(out)[:10, :10], np.asarray(drawn)[:10, :10])


@pytest.mark.parametrize("layout", ["zoom", "pan"])
def test_the_outpaint_blend_hides_a_step_in_light_a_feather_shows(layout: str) -> None:
    """The engine's picture of the same smooth scene, 60 levels brighter and softer (as a
    model's often is next to a sharp source): a plain feather leaves a ridge along the
    edge, past the bench's target (1.5); the outpaint blend meets the source there and
    fades the difference out."""
    src = _gradient((128, 128))
    canvas = zoom_canvas(src, 2) if layout == "zoom" else pan_canvas(src, "left")
    lit = np.clip(np.asarray(canvas.canvas, dtype=int) + 60, 0, 255).astype(np.uint8)
    drawn = Image.fromarray(lit, "RGB").filter(ImageFilter.GaussianBlur(2))
    feathered = composite(canvas.canvas, drawn, canvas.mask)
    blended = composite(canvas.canvas, drawn, canvas.mask, outpaint=True)
    assert seam_energy_ratio(feathered, canvas.mask) > 1.8
    assert seam_energy_ratio(blended, canvas.mask) <= 1.5
    assert seam_energy_ratio(blended, canvas.mask, side="inside") <= 1.5


def test_composite_checks_the_mask_size() -> None:
    with pytest.raises(CanvasError, match="same size"):
        composite(_noise((32, 32), 1), _noise((32, 32), 2), Image.new("L", (16, 16), 255))


def test_seam_ratio_sees_a_hard_seam_and_feathering_lowers_it() -> None:
    src = _gradient((128, 128))
    drawn = Image.fromarray(255 - np.asarray(src), "RGB")
    mask = box_mask((128, 128), Region(0.25, 0.25, 0.75, 0.75))
    hard = seam_energy_ratio(composite(src, drawn, mask, feather_px=0), mask)
    soft = seam_energy_ratio(composite(src, drawn, mask, feather_px=8), mask)
    assert hard > 3 and soft < hard
    assert 0.5 < seam_energy_ratio(_noise((128, 128), 7), mask) < 1.5
    assert math.isnan(seam_energy_ratio(src, Image.new("L", (128, 128), 0)))


def test_outside_change_and_psnr() -> None:
    src = Image.new("RGB", (64, 64), (100, 100, 100))
    out = Image.new("RGB", (64, 64), (110, 100, 100))
    mask = box_mask((64, 64), Region(0.5, 0, 1, 1))
    assert outside_change(src, out, mask) == pytest.approx(10 / 255 / 3)
    assert psnr(src, src) == math.inf
    assert psnr(src, out) == pytest.approx(10 * math.log10(255 ** 2 / (100 / 3)))
