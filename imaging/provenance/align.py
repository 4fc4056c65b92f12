"""Finding the watermark's tiling again after a crop.

A resize leaves the 256 x 256 frame unchanged, but a crop that keeps a fraction k of the
width stretches the frame by 1/k, so the mark's Fourier bins (tile bin (ky, kx) sits at
frame frequency (4 ky, 4 kx)) move to (4 ky k_y, 4 kx k_x). The search scores every
candidate (k_y, k_x) by the mean whitened spectral power at the ~480 places where the
mark's bins would then be: only the mark puts power on that exact lattice, so the right
scale stands out (typically 4-8 standard deviations above the rest of the grid), the
estimate needs no knowledge of the payload, and it ignores where the crop was taken (a
shift only changes phases). The shift is then found from the sync pattern (readout.py).

The autocorrelation of the frame would show the tiling too, but it spreads the picture's
power over every lag and loses the mark at our strength; the lattice score only looks at
the bins the mark uses.

A wrong candidate costs a decode attempt, never a false detection: the CRC (ecc.py)
decides, with a 2^-32 chance per attempt.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image
from scipy import ndimage

from imaging.provenance.watermark import FRAME, TILE, Layout

_PAD = 2 * FRAME  # the spectrum is sampled on a 2x finer grid (zero padding)
_COARSE = np.round(np.arange(0.70, 1.0001, 0.01), 4)  # kept fractions of a side searched
_FINE = np.arange(-0.012, 0.01201, 0.002)


def _white_power(frame: np.ndarray) -> np.ndarray:
    spec = np.fft.rfft2(frame - frame.mean(), s=(_PAD, _PAD))
    power = np.abs(spec) ** 2
    # Power relative to its neighbourhood: the picture's smooth 1/f spectrum becomes ~1
    # everywhere, the mark's lattice points stay above it.
    return power / (ndimage.uniform_filter(power, size=9, mode="wrap") + 1e-9)


def _lattice(layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    ky = np.where(layout.rows > TILE // 2, layout.rows - TILE, layout.rows).astype(float)
    return ky, layout.cols.astype(float)


def _scores(white: np.ndarray, ky: np.ndarray, kx: np.ndarray,
            keep_y: np.ndarray, keep_x: np.ndarray, exact: bool) -> np.ndarray:
    """Mean whitened power on the lattice for every (keep_y[i], keep_x[j]): nearest bin
    for the coarse grid (fast), bilinear for the fine one."""
    step = _PAD / TILE
    r = (step * keep_y[:, None] * ky[None, :]) % _PAD  # (ny, n) fractional row index
    c = step * keep_x[:, None] * kx[None, :]  # (nx, n) fractional column index
    if not exact:
        ri = np.rint(r).astype(np.intp) % _PAD
        ci = np.rint(c).astype(np.intp)
        return white[ri[:, None, :], ci[None, :, :]].mean(axis=-1)
    r_b = np.broadcast_to(r[:, None, :], (keep_y.size, keep_x.size, ky.size))
    c_b = np.broadcast_to(c[None, :, :], r_b.shape)
    vals = ndimage.map_coordinates(white, [r_b.ravel(), c_b.ravel()], order=1, mode="wrap")
    return vals.reshape(r_b.shape).mean(axis=-1)


def keep_candidates(frame: np.ndarray, layout: Layout, tries: int = 4
                    ) -> Iterator[tuple[float, float]]:
    """(keep_y, keep_x) fractions to try, most likely first (the uncropped (1, 1) is the
    caller's first try and is left out)."""
    white = _white_power(frame)
    ky, kx = _lattice(layout)
    coarse = _scores(white, ky, kx, _COARSE, _COARSE, exact=False)
    # Local maxima of the coarse grid, best first.
    peaks = coarse == ndimage.maximum_filter(coarse, size=3, mode="nearest")
    order = [(int(i), int(j)) for i, j in zip(*np.nonzero(peaks), strict=True)]
    order.sort(key=lambda ij: -coarse[ij])
    for i, j in order[:tries]:
        fy = np.clip(_COARSE[i] + _FINE, 0.6, 1.0)
        fx = np.clip(_COARSE[j] + _FINE, 0.6, 1.0)
        fine = _scores(white, ky, kx, fy, fx, exact=True)
        a, b = np.unravel_index(int(np.argmax(fine)), fine.shape)
        if (fy[a], fx[b]) != (1.0, 1.0):
            yield float(fy[a]), float(fx[b])


def unstretched_frame(y: np.ndarray, keep_y: float, keep_x: float) -> np.ndarray:
    """The luma of a crop that kept (keep_y, keep_x) of the original's sides, resized to the
    scale the original's frame had: the mark's tiles are TILE px again (part of a frame)."""
    h, w = y.shape
    out_w = max(8, min(FRAME, int(FRAME * keep_x)))
    out_h = max(8, min(FRAME, int(FRAME * keep_y)))
    # Source box of exactly out / (FRAME * keep) of the crop, so the scale is exact although
    # the output size is a whole number of pixels.
    box = (0.0, 0.0, w * out_w / (FRAME * keep_x), h * out_h / (FRAME * keep_y))
    img = Image.fromarray(y, mode="F")
    shrink = out_w < box[2]
    rs = Image.Resampling.BICUBIC if shrink else Image.Resampling.BILINEAR  # as to_frame
    return np.asarray(img.resize((out_w, out_h), rs, box=box))
