"""Masks users draw, and pasting an engine's picture back inside a mask.

A mask is mode "L", the picture's size, 255 where the engine redraws and 0 where it keeps.
`composite` is what makes "keep" hold: engines re-encode the whole picture (a VAE round
trip shifts every pixel a little), so the result is the source outside the mask, exactly,
and the engine's picture inside it, blended over a feathered band that lies wholly inside
the mask so no pixel outside it moves.

Outpainting (zoom, pan) hides its seam harder (`outpaint=True`): what lies under the new
area is only a blurred fill, and the engine's picture (softer, and a little off in colour
next to a sharp source) would meet the source in a visible line. There the feather starts
from the source's own edge pixels carried into the mask (softened as they go), and the
engine's picture is first shifted, in its low frequencies only, to meet the source's
colours along the edge, the shift fading out over `OUTPAINT_MATCH_PX`: in the manner of
Poisson blending, for the price of a distance transform and a summed-area table. Both
blends work in a window around the edge only (the rest is one `where`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from imaging.canvas.errors import CanvasError

EMPTY_MASK = ("That mask is empty: paint the area to change in white on black (or on a "
              "transparent layer) and send it again.")
_THRESHOLD = 128  # a painted pixel: at least half white (or half opaque)
FEATHER_PX = 8  # a region edit's feather
OUTPAINT_FEATHER_PX = 16  # outpainting's: from the source's carried-on edge to the engine's
OUTPAINT_MATCH_PX = 32  # how far into the new area the colour shift reaches
_RING_PX = 4  # the pictures are compared in a ring this wide just outside the mask
_MEAN_RADIUS = 6  # px: their local means along the edge ("low frequencies") are this wide


def _marks(image: Image.Image) -> np.ndarray:
    """True where a user's drawing marks "change", before any resizing.

    White marks it on an opaque picture. On a picture with transparent pixels (strokes
    painted on an empty layer) the opaque pixels mark it, whatever their colour: people
    paint such layers in any colour, and luminance alone would miss dark strokes."""
    if image.mode == "1":
        return np.asarray(image.convert("L")) >= _THRESHOLD
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        alpha = np.asarray(image.getchannel("A"))
        if alpha.min() < _THRESHOLD:
            return alpha >= _THRESHOLD
    if image.mode in ("I", "I;16", "F"):
        # 16-bit and float masks: scale to 0–255 by their own range.
        values = np.asarray(image, dtype=np.float64)
        top = values.max()
        return values >= top / 2 if top > 0 else np.zeros(values.shape, dtype=bool)
    return np.asarray(image.convert("L")) >= _THRESHOLD


def mask_from_upload(image: Image.Image, size: tuple[int, int]) -> tuple[Image.Image, bool]:
    """A user-drawn mask as a 0/255 "L" mask of `size`, and whether it had to be resized
    (nearest neighbour, so it stays two-valued; tell the user when it was). RGBA: the alpha
    marks it when some pixels are transparent, else luminance; L and 1-bit: white marks
    it. CanvasError (EMPTY_MASK) when nothing is marked."""
    mask = Image.fromarray(_marks(image).astype(np.uint8) * 255, "L")
    resized = mask.size != tuple(size)
    if resized:
        mask = mask.resize(size, Image.Resampling.NEAREST)
    if mask.getextrema()[1] == 0:
        raise CanvasError(EMPTY_MASK)
    return mask, resized


def _check_mask(mask: Image.Image, size: tuple[int, int]) -> np.ndarray:
    if mask.size != size:
        raise CanvasError(f"The mask is {mask.width}x{mask.height} but the picture is "
                          f"{size[0]}x{size[1]}; they must be the same size.")
    return np.asarray(mask.convert("L")) >= _THRESHOLD


def feather_alpha(inside: np.ndarray, feather_px: float) -> np.ndarray:
    """Blend weights from a boolean mask: 0 outside it, rising to 1 over `feather_px`
    pixels inside its edge (smoothstep of the distance to the nearest outside pixel).
    The picture's own border is not an edge: nothing there to blend with."""
    if feather_px <= 0 or inside.all() or not inside.any():
        return inside.astype(np.float32)
    # Padding with "inside" keeps the picture's border from counting as an edge.
    padded = np.pad(inside, 1, constant_values=True)
    distance = ndimage.distance_transform_edt(padded)[1:-1, 1:-1]
    t = np.clip((distance - 0.5) / feather_px, 0.0, 1.0)
    alpha = t * t * (3.0 - 2.0 * t)
    alpha[~inside] = 0.0  # exact: an outside pixel keeps the source
    return alpha.astype(np.float32)


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _edge_window(inside: np.ndarray, reach: int) -> tuple[slice, slice]:
    """The bounding box of the pixels on either side of the mask's edge, grown by `reach`:
    every pixel within `reach` of the edge, and its nearest pixel across it, lie in it."""
    edge = np.zeros_like(inside)
    rows, cols = inside[1:] != inside[:-1], inside[:, 1:] != inside[:, :-1]
    edge[1:] |= rows
    edge[:-1] |= rows
    edge[:, 1:] |= cols
    edge[:, :-1] |= cols
    ys, xs = np.flatnonzero(edge.any(axis=1)), np.flatnonzero(edge.any(axis=0))
    h, w = inside.shape
    return (slice(max(0, int(ys[0]) - reach), min(h, int(ys[-1]) + 1 + reach)),
            slice(max(0, int(xs[0]) - reach), min(w, int(xs[-1]) + 1 + reach)))


def _box_means(values: np.ndarray, weight: np.ndarray, ys: np.ndarray, xs: np.ndarray,
               radius: int) -> np.ndarray:
    """Weighted means of `values` (HxWxC) in (2r+1)² boxes centred on (ys, xs), from one
    summed-area table: cheap for a few thousand boxes, whatever their size."""
    h, w = weight.shape
    # float32 is plenty: a box's sum is the difference of four, each within 2^-24 of exact.
    table = np.zeros((h + 1, w + 1, values.shape[2] + 1), dtype=np.float32)
    table[1:, 1:, :-1] = values * weight[..., None]
    table[1:, 1:, -1] = weight
    table.cumsum(axis=0, out=table)
    table.cumsum(axis=1, out=table)
    y0, y1 = np.clip(ys - radius, 0, h), np.clip(ys + radius + 1, 0, h)
    x0, x1 = np.clip(xs - radius, 0, w), np.clip(xs + radius + 1, 0, w)
    sums = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    return sums[:, :-1] / np.maximum(sums[:, -1:], 1e-6)


class _Feather:
    """The pixels within `feather_px` inside the mask's edge, and their blend weights."""

    def __init__(self, src: np.ndarray, inside: np.ndarray, feather_px: float) -> None:
        self.window = _edge_window(inside, int(np.ceil(feather_px)) + 1)
        distance = ndimage.distance_transform_edt(inside[self.window])
        self.ys, self.xs = np.nonzero((distance > 0) & (distance < feather_px + 0.5))
        self.alpha = _smoothstep((distance[self.ys, self.xs] - 0.5) / feather_px)[:, None]
        self.src = src[self.window][self.ys, self.xs].astype(np.float64)

    def paint(self, out: np.ndarray, gen: np.ndarray) -> None:
        a, g = self.src, gen[self.window][self.ys, self.xs].astype(np.float64)
        out[self.window][self.ys, self.xs] = np.rint(a + (g - a) * self.alpha).clip(0, 255)


class _Outpaint:
    """The seam hidden (see the module's words) within reach of the mask's edge: the
    engine's picture shifted by the low-frequency source − engine difference along the
    edge (fading over OUTPAINT_MATCH_PX), feathered in from the source's edge pixels
    carried into the mask (softening to their local mean as they go). Everything but
    the engine's side of the difference is worked out before its picture exists."""

    def __init__(self, src: np.ndarray, inside: np.ndarray, feather_px: float) -> None:
        reach = int(max(feather_px, OUTPAINT_MATCH_PX)) + 1
        self.window = _edge_window(inside, reach + _RING_PX + _MEAN_RADIUS)
        inner, a = inside[self.window], src[self.window]
        distance, nearest = ndimage.distance_transform_edt(inner, return_indices=True)
        self.ys, self.xs = np.nonzero((distance > 0) & (distance < reach))
        near_y, near_x = nearest[0][self.ys, self.xs], nearest[1][self.ys, self.xs]
        # The pictures are compared by their means in a ring just outside the edge, at
        # each pixel next to the edge (a few per column of the edge, each worked out once).
        which = np.full(inner.shape, -1, dtype=np.int32)
        which[near_y, near_x] = 0
        edge_y, edge_x = np.nonzero(which == 0)
        which[edge_y, edge_x] = np.arange(edge_y.size, dtype=np.int32)
        self.nearest_edge = which[near_y, near_x]
        self.rows, self.cols = _edge_window(inner, _RING_PX + _MEAN_RADIUS)  # all boxes reach
        ring = ndimage.maximum_filter(inner, size=2 * _RING_PX + 1) & ~inner
        self.ring = ring[self.rows, self.cols]
        self.edge = (edge_y - self.rows.start, edge_x - self.cols.start)
        self.src_means = self._means(a)
        depth = distance[self.ys, self.xs, None].astype(np.float32) - 0.5
        self.fade = _smoothstep(1.0 - depth / OUTPAINT_MATCH_PX)
        self.alpha = _smoothstep(depth / np.float32(max(feather_px, 1.0)))
        carried = a[near_y, near_x].astype(np.float32)
        self.base = carried + (self.src_means[self.nearest_edge] - carried) * self.alpha

    def _means(self, picture: np.ndarray) -> np.ndarray:
        return _box_means(picture[self.rows, self.cols], self.ring, *self.edge, _MEAN_RADIUS)

    def paint(self, out: np.ndarray, gen: np.ndarray) -> None:
        g = gen[self.window]
        shift = (self.src_means - self._means(g))[self.nearest_edge]
        matched = g[self.ys, self.xs] + shift * self.fade  # float32 from here on
        blended = self.base + (matched - self.base) * self.alpha
        out[self.window][self.ys, self.xs] = np.rint(blended).clip(0, 255)


class Compositor:
    """Pasting engine pictures onto one canvas under one mask (see `composite`), worked
    out in two halves: what the canvas and the mask alone decide (the edge, distances,
    the source's side of the blend) when it is made, which a caller can do while the
    engine draws; the rest, per picture, in `apply`."""

    def __init__(self, source_canvas: Image.Image, mask: Image.Image,
                 feather_px: int | None = None, *, outpaint: bool = False) -> None:
        self.size = source_canvas.size
        self.inside = _check_mask(mask, self.size)
        self.src = np.asarray(source_canvas.convert("RGB"))
        if feather_px is None:
            feather_px = OUTPAINT_FEATHER_PX if outpaint else FEATHER_PX
        self.band: _Feather | _Outpaint | None = None
        if self.inside.any() and not self.inside.all():
            if outpaint:
                self.band = _Outpaint(self.src, self.inside, feather_px)
            elif feather_px > 0:
                self.band = _Feather(self.src, self.inside, feather_px)

    def apply(self, generated: Image.Image) -> Image.Image:
        drawn = generated.convert("RGB")
        if drawn.size != self.size:
            drawn = drawn.resize(self.size, Image.Resampling.LANCZOS)
        gen = np.asarray(drawn)
        out = np.where(self.inside[..., None], gen, self.src)  # outside: the source, exactly
        if self.band is not None:
            self.band.paint(out, gen)
        return Image.fromarray(out, "RGB")


def composite(source_canvas: Image.Image, generated: Image.Image, mask: Image.Image,
              feather_px: int | None = None, *, outpaint: bool = False) -> Image.Image:
    """The engine's picture over the source, only inside the mask (RGB, the source's size).

    `generated` is resized to the source's size if the engine returned another. Pixels
    outside the mask are the source's, unchanged; inside, the engine's picture takes over
    within `feather_px` of the mask's edge (default 8), so the seam is not a hard line.
    `outpaint`: the mask covers a new area (zoom, pan) whose canvas pixels are only a
    fill; the seam is hidden as the module says, over `feather_px` (default 16)."""
    return Compositor(source_canvas, mask, feather_px, outpaint=outpaint).apply(generated)
