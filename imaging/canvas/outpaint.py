"""Canvases for drawing past a picture's edges: zoom out (the picture shrunk into the
centre of a canvas of its own size) and pan (the canvas extended on one side).

Each gives the canvas for `ImageRequest(init_image=canvas, mask=mask)`: the picture where
it will stay, and the new area filled with its edge colours stretched outwards and blurred,
not black, so the model starts from plausible colours and lighting rather than a void it
would paint around. The mask is 255 on the new area, 0 over the picture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from imaging.canvas.errors import CanvasError
from imaging.canvas.geometry import Box

ZOOM_FACTORS = (1.5, 2.0)
PAN_DIRECTIONS = ("left", "right", "up", "down")
PAN_GROWTH = 0.5  # a pan adds half the side it extends


@dataclass(frozen=True, slots=True)
class Outpaint:
    """A canvas to draw on, its mask (255 = to draw), and where the source sits in it."""

    canvas: Image.Image
    mask: Image.Image
    inner_box: Box

    @property
    def size(self) -> tuple[int, int]:
        return self.canvas.size


def _ceil8(value: float) -> int:
    return int(math.ceil(value / 8 - 1e-9)) * 8


def _extended(picture: Image.Image, size: tuple[int, int], at: tuple[int, int]) -> Outpaint:
    """`picture` placed at `at` on a canvas of `size`, the rest filled with its edge
    pixels stretched outwards and blurred (more blur the farther the canvas reaches)."""
    w, h = picture.size
    left, top = at
    right, bottom = size[0] - left - w, size[1] - top - h
    pixels = np.asarray(picture.convert("RGB"))
    stretched = np.pad(pixels, ((top, bottom), (left, right), (0, 0)), mode="edge")
    reach = max(left, top, right, bottom)
    # Stretched edges are streaks; a wide blur turns them into soft colour fields. So wide
    # a blur loses nothing done at a quarter of the size (and costs a tenth).
    radius = max(2, reach / 3)
    canvas = Image.fromarray(stretched, "RGB")
    if radius >= 8 and min(size) >= 32:
        canvas = canvas.reduce(4).filter(ImageFilter.GaussianBlur(radius / 4)).resize(
            size, Image.Resampling.BILINEAR)
    else:
        canvas = canvas.filter(ImageFilter.GaussianBlur(radius))
    canvas.paste(picture.convert("RGB"), at)
    box = (left, top, left + w, top + h)
    mask = Image.new("L", size, 255)
    mask.paste(0, box)
    return Outpaint(canvas, mask, box)


def zoom_canvas(src: Image.Image, factor: float) -> Outpaint:
    """Zoom out: `src` shrunk by `factor` (1.5 or 2, Lanczos) into the centre of a canvas
    of the same size; the border around it is to be drawn."""
    if not any(math.isclose(factor, f) for f in ZOOM_FACTORS):
        raise CanvasError("Zooming out works by 1.5x or 2x.")
    w, h = src.size
    inner = (max(1, round(w / factor)), max(1, round(h / factor)))
    shrunk = src.convert("RGB").resize(inner, Image.Resampling.LANCZOS)
    return _extended(shrunk, (w, h), ((w - inner[0]) // 2, (h - inner[1]) // 2))


def pan_canvas(src: Image.Image, direction: str) -> Outpaint:
    """Pan: the canvas grown by half its side towards `direction` (left, right, up, down),
    the source's pixels kept as they are ("left" puts the new area on the left and the
    source on the right). Both sides are rounded up to multiples of 8; rows or columns
    that adds on the other axis go on the bottom or right and are drawn too."""
    direction = direction.strip().lower()
    if direction not in PAN_DIRECTIONS:
        raise CanvasError("I can pan left, right, up or down.")
    w, h = src.size
    if direction in ("left", "right"):
        size = (_ceil8(w * (1 + PAN_GROWTH)), _ceil8(h))
        at = (size[0] - w, 0) if direction == "left" else (0, 0)
    else:
        size = (_ceil8(w), _ceil8(h * (1 + PAN_GROWTH)))
        at = (0, size[1] - h) if direction == "up" else (0, 0)
    return _extended(src, size, at)
