"""An invisible, keyed watermark carrying 64 bits (deployment id + generation key).

Why our own and not a library: `invisible-watermark` needs `opencv-python`, which
overwrites the `cv2/` of nudenet's `opencv-python-headless`; its dwtDct mode fails at JPEG
quality <= 85 and dwtDctSvd fails any resize. TrustMark downloads its weights at run time,
which easel cannot do. This is numpy + PIL only and small enough to read in one go.

How it works:
- Every image is looked at through the same *frame*: its luma resized to 256 x 256. A
  resize of the image leaves the frame unchanged, which is what makes the mark survive the
  downscaling chat channels do.
- The mark is a 64 x 64 tile repeated 4 x 4 times over the frame. Its energy sits only on
  the tile's mid-frequency Fourier bins (radius BAND in tile bins), so JPEG keeps it and it
  reads as fine grain, not as a pattern. Folding the frame (averaging its 16 tiles) brings
  the mark back whole; a crop only shifts the tiling (recovered from a sync pattern, see
  readout.py) and stretches the frame (recovered from where the mark's frequencies moved,
  see align.py).
- Each Fourier coefficient of the band (real and imaginary part) is a chip: a keyed PRNG
  gives every chip a sign and assigns it to one of 204 code bits (ecc.py) or to the sync
  pattern. A bit's value is the signed mean of its chips.
- Embedding is *informed*: it measures what the picture itself already puts on each bit and
  adds only what is missing to reach a common margin. The picture's own texture, the main
  noise of plain spread-spectrum marks, so barely disturbs the read-out. The margin is
  the largest a fixed energy buys (PSNR ~39.5 dB on textured pictures), or less when the
  picture is flat and needs less (~44 dB); never under 38.5 dB (marker.py).
- The payload is 32 bits of deployment id + 32 bits of generation key, with a CRC-32 and a
  rate-1/2 convolutional code (ecc.py); the CRC is what makes false detections rare.

Targets met on bench/provenance.py (see its output): JPEG q50, 50 % resize and 10 % crops
(centre or edge) detected on ~100 % of 512 px images, no false detection in 1,000
unmarked ones, embed + detect ~30 ms per 512 px image on 2 shared CPU cores.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

from imaging.provenance import ecc

FRAME = 256
TILE = 64
REPS = FRAME // TILE
BAND = (4.0, 18.0)  # tile-bin radii carrying the mark
SYNC_FRACTION = 0.25  # share of the chips given to the sync pattern
# RMS of the change in the frame (grey levels) at most: ~39.5 dB PSNR at native resolution.
STRENGTH = 2.6
MARGIN_FLOOR, MARGIN_PER_TEXTURE = 2.0, 1.0  # see plan
MAX_GIVEN_UP = 12  # code bits that may be left to the error correction (of 204)
_DEAR_SHARE = 0.04  # ... when one alone would cost more than this share of the budget


@dataclass(frozen=True, slots=True)
class Layout:
    """Where every chip lives: derived from the key, the same on both sides."""

    rows: np.ndarray  # (n_bins,) row index into the rfft2 tile spectrum
    cols: np.ndarray  # (n_bins,) column index
    sign: np.ndarray  # (2, n_bins) +-1 per chip (real, imaginary part)
    slot: np.ndarray  # (2, n_bins) 0..CODED_BITS-1: a code bit; CODED_BITS: sync
    whitening: bytes  # XORed into the payload so that no payload gives an empty mark


def make_layout(key: bytes) -> Layout:
    seed = int.from_bytes(hashlib.sha256(b"easel-watermark-layout\0" + key).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    ky = np.fft.fftfreq(TILE, 1 / TILE)[:, None]
    kx = np.arange(TILE // 2 + 1)[None, :]
    radius = np.hypot(ky, kx)
    # One bin of each conjugate pair: kx > 0, or kx == 0 with ky > 0.
    unique = (kx > 0) | ((kx == 0) & (ky > 0))
    mask = unique & (radius >= BAND[0]) & (radius <= BAND[1]) & (kx < TILE // 2)
    rows, cols = np.nonzero(mask)
    n_chips = 2 * rows.size
    n_sync = int(n_chips * SYNC_FRACTION)
    # Every code bit gets the same number of chips (give or take one), spread over the band.
    slots = np.concatenate([np.full(n_sync, ecc.CODED_BITS),
                            np.arange(n_chips - n_sync) % ecc.CODED_BITS])
    slots = rng.permutation(slots).reshape(2, -1)
    sign = rng.choice(np.array([-1.0, 1.0]), size=(2, rows.size))
    whitening = hashlib.sha256(b"easel-watermark-whitening\0" + key).digest()[:8]
    return Layout(rows, cols, sign, slots, whitening)


def luma(image: Image.Image) -> np.ndarray:
    """ITU-R 601 luma as float32. PIL's own RGB -> L is ten times faster than numpy's; its
    rounding to whole grey levels averages out in the frame."""
    gray = image if image.mode == "L" else image.convert("RGB").convert("L")
    return np.asarray(gray.convert("F"))


def to_frame(y: np.ndarray, size: tuple[int, int] = (FRAME, FRAME)) -> np.ndarray:
    """Luma resized to `size` (w, h), as float32: bicubic when shrinking (it keeps more of
    the band than bilinear: +0.8 dB PSNR for the same read-out), bilinear when growing."""
    if y.shape[1] == size[0] and y.shape[0] == size[1]:
        return y.astype(np.float32, copy=False)
    shrink = size[0] < y.shape[1]
    rs = Image.Resampling.BICUBIC if shrink else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(y, mode="F").resize(size, rs))


def fold(frame: np.ndarray) -> np.ndarray:
    """The mean of the frame's tiles (a frame smaller than 4 x 4 tiles: of what there is)."""
    h, w = frame.shape
    if (h, w) == (FRAME, FRAME):
        return frame.reshape(REPS, TILE, REPS, TILE).mean(axis=(0, 2))
    acc = np.zeros((TILE, TILE))
    cnt = np.zeros((TILE, TILE))
    for y0 in range(0, h, TILE):
        for x0 in range(0, w, TILE):
            part = frame[y0:y0 + TILE, x0:x0 + TILE]
            acc[: part.shape[0], : part.shape[1]] += part
            cnt[: part.shape[0], : part.shape[1]] += 1
    return acc / np.maximum(cnt, 1)


def chips(spectrum: np.ndarray, layout: Layout) -> np.ndarray:
    """(2, n_bins) signed chip values of a tile spectrum (rfft2, ortho)."""
    z = spectrum[layout.rows, layout.cols]
    return np.stack([z.real, z.imag]) * layout.sign


def bit_means(c: np.ndarray, layout: Layout) -> np.ndarray:
    """Mean chip value per slot: CODED_BITS code bits, then the sync slot."""
    n = ecc.CODED_BITS + 1
    total = np.bincount(layout.slot.ravel(), weights=c.ravel(), minlength=n)
    count = np.bincount(layout.slot.ravel(), minlength=n)
    return total / count


def payload_bytes(deployment_id: int, generation_key: int) -> bytes:
    return deployment_id.to_bytes(4, "big") + generation_key.to_bytes(4, "big")


def target_signs(payload: bytes, layout: Layout) -> np.ndarray:
    """+-1 per slot: the code bits of the whitened payload, then +1 for sync."""
    whitened = bytes(a ^ b for a, b in zip(payload, layout.whitening, strict=True))
    code = ecc.encode(whitened)
    return np.concatenate([1.0 - 2.0 * code, [1.0]])


def _best_margin(agree: np.ndarray, count: np.ndarray, energy: float) -> float:
    """The largest margin alpha with sum(count * max(0, alpha - agree)^2) <= energy."""
    lo, hi = 0.0, float(np.max(np.abs(agree))) + np.sqrt(energy / count.min()) + 1.0
    for _ in range(40):
        alpha = (lo + hi) / 2
        cost = float(np.sum(count * np.maximum(0.0, alpha - agree) ** 2))
        lo, hi = (alpha, hi) if cost <= energy else (lo, alpha)
    return lo


def _margin_deltas(have: np.ndarray, want: np.ndarray, count: np.ndarray,
                   energy: float) -> tuple[np.ndarray, float, np.ndarray]:
    """Per-slot change of the mean so every slot reaches a common margin in its wanted
    direction, the largest margin whose cost (sum count * delta^2) fits `energy`.
    Returns the changes, the margin and which slots were written.

    A slot on which the picture itself puts a lot against us (a strong stripe or edge at
    one of our frequencies) would eat the whole budget; up to MAX_GIVEN_UP such slots are
    left as they are instead, and the error correction absorbs them.
    """
    agree = want * have
    active = np.ones(agree.size, dtype=bool)
    for _ in range(3):
        alpha = _best_margin(agree[active], count[active], energy)
        cost = count * np.maximum(0.0, alpha - agree) ** 2
        dear = active & (cost > _DEAR_SHARE * energy)
        dear[-1] = False  # never the sync slot: without it nothing is found
        if not dear.any() or (~active).sum() >= MAX_GIVEN_UP:
            break
        worst = np.argsort(-np.where(dear, cost, -1.0))[: MAX_GIVEN_UP - (~active).sum()]
        active[worst[dear[worst]]] = False
    return np.where(active, want * np.maximum(0.0, alpha - agree), 0.0), alpha, active


def slot_means(tile: np.ndarray, layout: Layout) -> np.ndarray:
    return bit_means(chips(np.fft.rfft2(tile, norm="ortho"), layout), layout)


def plan(fold_tile: np.ndarray, want: np.ndarray, layout: Layout,
         strength: float = STRENGTH) -> tuple[np.ndarray, float, np.ndarray]:
    """Per-slot changes that bring the slots of `fold_tile` to a common margin in their
    wanted direction (`want`, +-1); the margin; and which slots were written (see
    `_margin_deltas`).

    The margin is what `strength` RMS of change buys, but no more than the picture needs:
    MARGIN_FLOOR plus MARGIN_PER_TEXTURE times its own level on the band (the median
    chip). Flat pictures (the demo model's, drawings, gradients) thus get a fainter mark,
    PSNR ~44 dB instead of ~39, where grain would show on smooth areas; a crop or JPEG
    disturbs them little, and the bench shows no loss there. Textured ones use the budget.
    """
    have = slot_means(fold_tile, layout)
    count = np.bincount(layout.slot.ravel(), minlength=want.size).astype(float)
    # Each chip d costs 2 d^2 of tile energy (it has a conjugate twin); budget = RMS^2 * area.
    delta, margin, written = _margin_deltas(have, want, count, strength ** 2 * TILE * TILE / 2)
    texture = float(np.median(np.abs(chips(np.fft.rfft2(fold_tile, norm="ortho"), layout))))
    needed = MARGIN_FLOOR + MARGIN_PER_TEXTURE * texture
    if margin > needed:
        delta = np.where(written, want * np.maximum(0.0, needed - want * have), 0.0)
        margin = needed
    return delta, margin, written


def top_up(fold_tile: np.ndarray, want: np.ndarray, margin: float, written: np.ndarray,
           layout: Layout) -> np.ndarray:
    """Per-slot changes that bring the written slots still short of `margin` up to it."""
    have = slot_means(fold_tile, layout)
    return np.where(written, want * np.maximum(0.0, margin - want * have), 0.0)


def tile_delta(delta: np.ndarray, layout: Layout) -> np.ndarray:
    """The TILE x TILE spatial change that moves each slot's mean by `delta`."""
    chip_values = delta[layout.slot] * layout.sign
    out = np.zeros((TILE, TILE // 2 + 1), dtype=complex)
    out[layout.rows, layout.cols] = chip_values[0] + 1j * chip_values[1]
    # Bins of the kx = 0 column have their conjugate twin in the same column: fill it, or
    # irfft2 drops half of what they carry.
    on_axis = layout.cols == 0
    out[(-layout.rows[on_axis]) % TILE, 0] = np.conj(out[layout.rows[on_axis], 0])
    return np.fft.irfft2(out, s=(TILE, TILE), norm="ortho")
