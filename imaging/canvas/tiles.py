"""Overlapping tiles: cut a picture into pieces a model can take, and stitch them back.

Used twice: the super-resolution upscaler runs a large picture tile by tile to bound its
memory, and a hires refine pass (image-to-image on a picture larger than the engine's
native size) calls the engine once per tile. Tiles overlap, and `blend_tiles` fades each
one in across the overlap, so the joins do not show as lines where the model saw
different context on either side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image

from imaging.canvas.errors import CanvasError
from imaging.canvas.geometry import Box


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    """Tile starts along one side: evenly spread, first at 0, last flush with the end,
    neighbours overlapping by at least `overlap`."""
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    return [round(i * (length - tile) / (count - 1)) for i in range(count)]


def hires_tiles(size: tuple[int, int], tile: int, overlap: int) -> list[Box]:
    """Boxes (left, top, right, bottom), row by row, covering a picture of `size`, each at
    most `tile` px a side (a side shorter than `tile` is taken whole), neighbours sharing at
    least `overlap` px."""
    if tile < 8 or not 0 <= overlap < tile:
        raise CanvasError(f"Tiles need a side of at least 8 px and an overlap smaller than "
                          f"the tile (got tile {tile}, overlap {overlap}).")
    w, h = size
    return [(x, y, min(x + tile, w), min(y + tile, h))
            for y in _starts(h, tile, overlap) for x in _starts(w, tile, overlap)]


def _ramp(length: int, fade_in: bool, fade_out: bool, overlap: int) -> np.ndarray:
    """Weights along one side of a tile: rising over `overlap` px from an edge that has a
    neighbour, flat (1) at the picture's own border."""
    weights = np.ones(length, dtype=np.float64)
    if overlap <= 0:
        return weights
    # Half-pixel offsets keep every weight above 0, so each pixel has some tile's say.
    rise = np.minimum(1.0, (np.arange(length) + 0.5) / overlap)
    if fade_in:
        weights = np.minimum(weights, rise)
    if fade_out:
        weights = np.minimum(weights, rise[::-1])
    return weights


def blend_tiles(size: tuple[int, int], pieces: Sequence[tuple[Box, Image.Image]],
                overlap: int) -> Image.Image:
    """One RGB picture of `size` from (box, picture) pieces, e.g. `hires_tiles`' boxes and
    what the engine drew for each (resized to its box if it came back another size).
    Where pieces overlap they are blended with weights that fade across `overlap` px."""
    w, h = size
    total = np.zeros((h, w, 3), dtype=np.float64)
    weight = np.zeros((h, w, 1), dtype=np.float64)
    for (left, top, right, bottom), picture in pieces:
        bw, bh = right - left, bottom - top
        if picture.size != (bw, bh):
            picture = picture.resize((bw, bh), Image.Resampling.LANCZOS)
        wx = _ramp(bw, left > 0, right < w, overlap)
        wy = _ramp(bh, top > 0, bottom < h, overlap)
        tile_weight = np.outer(wy, wx)[..., None]
        total[top:bottom, left:right] += np.asarray(picture.convert("RGB")) * tile_weight
        weight[top:bottom, left:right] += tile_weight
    if (weight == 0).any():
        raise CanvasError("The tiles do not cover the whole picture.")
    out = np.rint(total / weight)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")
