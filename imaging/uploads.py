"""Pictures users attach, made ready for image-to-image. Blocking: call it in a thread."""

from __future__ import annotations

import io

from PIL import Image


class UploadError(ValueError):
    """The bytes are not an image PIL can read."""


def prepare_upload(data: bytes, max_side: int) -> Image.Image:
    """Decode, convert to RGB and fit: at most `max_side`, sides a multiple of 8 (what
    VAEs need), at least 64 px."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        image = image.convert("RGB")
    except Exception as exc:  # PIL raises many types for damaged or foreign files
        raise UploadError(f"not a readable image ({type(exc).__name__})") from exc
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    w, h = max(64, image.width // 8 * 8), max(64, image.height // 8 * 8)
    return image if (w, h) == image.size else image.resize((w, h), Image.Resampling.LANCZOS)
