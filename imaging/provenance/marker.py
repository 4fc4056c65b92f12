"""`Watermarker`: write and read the invisible mark on whole images (see watermark.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from imaging.provenance import align, ecc, readout
from imaging.provenance import watermark as wm

# Resampling and uint8 rounding lose about a quarter of what the plan asked for at the
# band's frequencies; the top-up pass asks for this much more to land on the margin.
_TOP_UP_GAIN = 1.35
PSNR_FLOOR = 38.5  # dB, whatever the picture
_MAX_MSE = 255.0**2 / 10 ** (PSNR_FLOOR / 10)


@dataclass(frozen=True, slots=True)
class Detection:
    found: bool
    deployment_id: int | None = None
    generation_key: int | None = None
    # Where it was found: the kept fraction of the height and width (1, 1: not cropped).
    keep: tuple[float, float] = (1.0, 1.0)
    tries: int = 0  # decode attempts made (1 when it was found at once)
    # The soft code bits read (of the successful try, else of the first), for bench figures.
    soft: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False, compare=False)


class Watermarker:
    """Keyed: only the same key finds the mark, and the key decides its whole layout."""

    def __init__(self, key: bytes, strength: float = wm.STRENGTH) -> None:
        if len(key) < 16:
            raise ValueError("the watermark key must have at least 16 bytes")
        self._layout = wm.make_layout(key)
        self._ref = readout.sync_reference(self._layout)
        self._strength = strength

    def code_signs(self, deployment_id: int, generation_key: int) -> np.ndarray:
        """The +-1 code bits a payload is written as (to score soft bits against)."""
        payload = wm.payload_bytes(deployment_id, generation_key)
        return wm.target_signs(payload, self._layout)[: ecc.CODED_BITS]

    def embed(self, image: Image.Image, deployment_id: int, generation_key: int
              ) -> Image.Image:
        """A copy of `image` (RGB, or RGBA with its alpha kept) carrying the payload."""
        if not (0 <= deployment_id < 2**32 and 0 <= generation_key < 2**32):
            raise ValueError("deployment id and generation key are 32-bit unsigned")
        alpha = image.getchannel("A") if image.mode in ("RGBA", "LA") else None
        rgb_img = image.convert("RGB")
        rgb = np.asarray(rgb_img)
        shape = rgb.shape
        want = wm.target_signs(wm.payload_bytes(deployment_id, generation_key), self._layout)
        tile = wm.fold(wm.to_frame(wm.luma(rgb_img)))
        delta, margin, written = wm.plan(tile, want, self._layout, self._strength)
        room = _room(rgb)
        change = self._native(wm.tile_delta(delta, self._layout), shape)
        grey = _grey(change, room)
        marked = Image.fromarray(_add(rgb, grey))
        # Second pass: measure what landed (resampling, rounding and the 0/255 bounds lose
        # some) and top up the slots that fell short of the margin.
        extra = wm.top_up(wm.fold(wm.to_frame(wm.luma(marked))), want, margin, written,
                          self._layout)
        if np.any(extra):
            more = self._native(wm.tile_delta(extra * _TOP_UP_GAIN, self._layout), shape)
            first = float(np.mean(grey**2))
            grey = _grey(change + more, room)
            # Never below the PSNR floor: scale the top-up back when it would cross it
            # (error grows about quadratically with its size). The grey change's mean
            # square is the image's MSE (a bound where saturated pixels clip).
            mse = float(np.mean(grey**2))
            if mse > _MAX_MSE and mse > first:
                grey = _grey(change + np.sqrt(max(0.0, _MAX_MSE - first) / (mse - first))
                             * more, room)
            marked = Image.fromarray(_add(rgb, grey))
        if alpha is not None:
            marked.putalpha(alpha)
        return marked

    def detect(self, image: Image.Image, search_crops: bool = True) -> Detection:
        y = wm.luma(image)
        frame = wm.to_frame(y)
        payload, soft = readout.read_tile(wm.fold(frame), self._layout, self._ref)
        tries = 1
        if payload is not None:
            return _found(payload, (1.0, 1.0), tries, soft)
        if search_crops:
            for keep in align.keep_candidates(frame, self._layout):
                tries += 1
                tile = wm.fold(align.unstretched_frame(y, *keep))
                payload, crop_soft = readout.read_tile(tile, self._layout, self._ref, False)
                if payload is not None:
                    return _found(payload, keep, tries, crop_soft)
        return Detection(False, tries=tries, soft=soft)

    @staticmethod
    def _native(tile: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """A tile's change spread over the frame and resized to the image."""
        frame = np.tile(tile, (wm.REPS, wm.REPS)).astype(np.float32)
        return wm.to_frame(frame, (shape[1], shape[0]))


def _room(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, how far down and up a grey change can go without clipping a channel.
    Fully saturated pixels (a channel at 0 and one at 255) could take none: they get the
    plain per-channel clip instead, a slight tint being invisible on such colours."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]  # (elementwise: 10x faster than axis=2)
    lo = -np.minimum(np.minimum(r, g), b).astype(np.float32)
    hi = 255.0 - np.maximum(np.maximum(r, g), b).astype(np.float32)
    stuck = (lo == 0) & (hi == 0)
    lo[stuck], hi[stuck] = -255.0, 255.0
    return lo, hi


def _grey(change: np.ndarray, room: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The per-pixel grey change, limited to what every channel of the pixel can take
    (clipping one channel alone would tint it: bluish specks on a cream background) and
    rounded: the channels are whole numbers, so rounding once is rounding each."""
    return np.rint(np.clip(change, room[0], room[1]))


def _add(rgb: np.ndarray, grey: np.ndarray) -> np.ndarray:
    out = rgb.astype(np.int16) + grey.astype(np.int16)[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def _found(payload: bytes, keep: tuple[float, float], tries: int, soft: np.ndarray
           ) -> Detection:
    return Detection(True, int.from_bytes(payload[:4], "big"),
                     int.from_bytes(payload[4:], "big"), keep, tries, soft)
