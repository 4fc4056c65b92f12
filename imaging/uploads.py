"""Pictures users attach: checked, decoded and made ready for image-to-image.

Only PNG, JPEG and WebP are opened (what every channel tells users it takes; other
Pillow plugins are more code reading hostile bytes). The pixel count is checked from the
header, before anything is decoded: a 300 KB file may claim 20,000 × 20,000 pixels, and
decoding it would take over a gigabyte. A large JPEG photo is decoded at a reduced scale
(its DCT does 1/2 to 1/8 almost for free), so phone photos of any size stay cheap. The
blocking work runs in a thread, and `DecodeSlots` bounds how many decodes run at once.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import TypeVar

from PIL import Image, ImageOps

FORMATS = ("PNG", "JPEG", "WEBP")
# What one upload may decode to: 4096 × 4096, at most 64 MB as RGBA.
MAX_PIXELS = 4096 * 4096
# Decodes at once, across all requests: each may hold up to MAX_PIXELS in memory.
MAX_CONCURRENT_DECODES = 2
UNSUPPORTED = "I can only open PNG, JPEG and WebP pictures; please send one of those."
UNREADABLE = "I couldn't read that picture (it may be damaged); PNG, JPEG and WebP work."

T = TypeVar("T")


class UploadError(ValueError):
    """The bytes were refused; the message says why, in words for the user."""


def too_large(size: tuple[int, int] | None = None) -> str:
    said = f" ({size[0]}×{size[1]} pixels)" if size else ""
    side = int(MAX_PIXELS ** 0.5)
    return (f"That picture is too large to open{said}; pictures of up to "
            f"{MAX_PIXELS / 1e6:.1f} megapixels work, for example {side}×{side}.")


def open_upload(data: bytes, max_side: int | None = None) -> Image.Image:
    """The picture in `data`, opened but not decoded, set to decode within MAX_PIXELS.
    A JPEG is set to decode at the smallest DCT scale that still covers `max_side` (the
    size it will be fitted to); None: only as small as MAX_PIXELS needs. Raises
    UploadError (unsupported format, unreadable header, too many pixels)."""
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadError(too_large()) from None  # Pillow's own bound, far above ours
    except Image.UnidentifiedImageError:
        raise UploadError(UNSUPPORTED) from None
    except Exception:  # a header Pillow recognised but could not parse
        raise UploadError(UNREADABLE) from None
    size = image.size
    if image.format == "JPEG":
        scale = _jpeg_scale(*size, max_side)
        # draft() decodes at the largest reduction whose result still covers this size.
        image.draft("RGB", (max(1, size[0] // scale), max(1, size[1] // scale)))
    if image.width * image.height > MAX_PIXELS:
        image.close()
        raise UploadError(too_large(size))
    return image


def _jpeg_scale(w: int, h: int, max_side: int | None) -> int:
    """The largest DCT reduction (1, 2, 4 or 8) that still covers `max_side`, and at
    least the one MAX_PIXELS needs."""
    scales = (1, 2, 4, 8)
    needed = next((s for s in scales if -(-w // s) * -(-h // s) <= MAX_PIXELS), 8)
    fits = max((s for s in scales if max_side is not None and max(w, h) // s >= max_side),
               default=1)
    return max(needed, fits)


def prepare_upload(data: bytes, max_side: int) -> Image.Image:
    """Blocking. Decode, turn upright as the camera's EXIF says, convert to RGB and fit:
    at most `max_side`, sides a multiple of 8 (what VAEs need), at least 64 px."""
    image = open_upload(data, max_side)
    try:
        image.load()
        # A phone photo is stored as the sensor saw it; EXIF says which way is up.
        image = ImageOps.exif_transpose(image).convert("RGB")
    except Exception as exc:  # PIL raises many types for damaged files
        raise UploadError(UNREADABLE) from exc
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    w, h = max(64, image.width // 8 * 8), max(64, image.height // 8 * 8)
    return image if (w, h) == image.size else image.resize((w, h), Image.Resampling.LANCZOS)


class DecodeSlots:
    """At most `limit` decodes at once, each in a thread: a burst of uploads waits its
    turn instead of multiplying the memory (twelve at once once took 2.8 GB)."""

    def __init__(self, limit: int = MAX_CONCURRENT_DECODES) -> None:
        self.limit = limit
        self.busy = 0  # decodes running now
        self._slots: asyncio.Semaphore | None = None

    async def run(self, decode: Callable[..., T], *args: object) -> T:
        # Made on first use, inside the loop that serves the requests.
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        async with self._slots:
            self.busy += 1
            try:
                return await asyncio.to_thread(decode, *args)
            finally:
                self.busy -= 1
