"""How well a canvas edit kept what it should and hid its seam (tests and bench/canvas.py).

- `outside_change`: the mean absolute change, in 0–1, of the pixels well outside the mask
  (farther than `margin` px from it): 0 when "keep" was kept.
- `seam_energy_ratio`: the mean gradient magnitude in a thin band along the mask's edge
  divided by the mean elsewhere: about 1 when the edge is no busier than the rest of the
  picture, well above 1 for a visible seam.
- `psnr`: peak signal-to-noise ratio in dB (inf for identical pictures).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image
from scipy import ndimage


def _inside(mask: Image.Image) -> np.ndarray:
    return np.asarray(mask.convert("L")) >= 128


def _rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float64)


def outside_change(src: Image.Image, out: Image.Image, mask: Image.Image,
                   margin: int = 8) -> float:
    """Mean |out - src| / 255 over the pixels farther than `margin` px outside the mask
    (0.0 when there are none)."""
    inside = _inside(mask)
    if not inside.any():
        far = np.ones(inside.shape, dtype=bool)
    else:
        far = ndimage.distance_transform_edt(~inside) > margin
    if not far.any():
        return 0.0
    diff = np.abs(_rgb(out) - _rgb(src))[far]
    return float(diff.mean() / 255.0)


def _gradient(image: Image.Image) -> np.ndarray:
    luma = np.asarray(image.convert("L"), dtype=np.float64)
    return np.hypot(ndimage.sobel(luma, axis=1), ndimage.sobel(luma, axis=0))


def edge_band(mask: Image.Image, width: int = 2, side: str = "both") -> np.ndarray:
    """True within `width` px of the mask's edge: on both sides of it, or only `inside`
    or `outside` the mask."""
    inside = _inside(mask)
    if inside.all() or not inside.any():
        return np.zeros(inside.shape, dtype=bool)
    to_inside = ndimage.distance_transform_edt(~inside)  # 0 inside
    to_outside = ndimage.distance_transform_edt(inside)  # 0 outside
    outer = (to_inside > 0) & (to_inside <= width)
    inner = (to_outside > 0) & (to_outside <= width)
    return {"both": outer | inner, "inside": inner, "outside": outer}[side]


def seam_energy_ratio(out: Image.Image, mask: Image.Image, width: int = 2,
                      side: str = "both") -> float:
    """Mean gradient magnitude within `width` px of the mask's edge ÷ mean elsewhere
    (off the whole band). `side`: "inside" or "outside" measures that half of the band
    alone (the outside half is the source's own pixels, which compositing keeps).
    NaN without an edge; inf when the rest of the picture is perfectly flat."""
    whole = edge_band(mask, width)
    band = whole if side == "both" else edge_band(mask, width, side)
    if not band.any() or whole.all():
        return math.nan
    grad = _gradient(out)
    rest = float(grad[~whole].mean())
    seam = float(grad[band].mean())
    if rest == 0.0:
        return math.inf if seam > 0 else 1.0
    return seam / rest


def psnr(a: Image.Image, b: Image.Image) -> float:
    """PSNR in dB of two same-sized pictures (RGB); inf when identical."""
    if a.size != b.size:
        raise ValueError(f"sizes differ: {a.size} and {b.size}")
    mse = float(np.mean((_rgb(a) - _rgb(b)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)
