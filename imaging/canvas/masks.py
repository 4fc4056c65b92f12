"""Masks users draw, and pasting an engine's picture back inside a mask.

A mask is mode "L", the picture's size, 255 where the engine redraws and 0 where it keeps.
`composite` is what makes "keep" hold: engines re-encode the whole picture (a VAE round
trip shifts every pixel a little), so the result is the source outside the mask, exactly,
and the engine's picture inside it, blended over a feathered band that lies wholly inside
the mask so no pixel outside it moves.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from imaging.canvas.errors import CanvasError

EMPTY_MASK = ("That mask is empty: paint the area to change in white on black (or on a "
              "transparent layer) and send it again.")
_THRESHOLD = 128  # a painted pixel: at least half white (or half opaque)


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


def composite(source_canvas: Image.Image, generated: Image.Image, mask: Image.Image,
              feather_px: int = 8) -> Image.Image:
    """The engine's picture over the source, only inside the mask (RGB, the source's size).

    `generated` is resized to the source's size if the engine returned another. Pixels
    outside the mask are the source's, unchanged; inside, the engine's picture takes over
    within `feather_px` of the mask's edge, so the seam is not a hard line."""
    size = source_canvas.size
    inside = _check_mask(mask, size)
    source = source_canvas.convert("RGB")
    drawn = generated.convert("RGB")
    if drawn.size != size:
        drawn = drawn.resize(size, Image.Resampling.LANCZOS)
    alpha = feather_alpha(inside, feather_px)[..., None]
    src = np.asarray(source, dtype=np.float32)
    gen = np.asarray(drawn, dtype=np.float32)
    out = np.rint(src + (gen - src) * alpha)
    # Outside the mask alpha is 0 and this is already src; spelt out so it stays exact.
    out = np.where(alpha > 0, out, src)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")
