"""Pictures to and from remote engines: their bytes decoded, ours encoded for upload.

Both run in worker threads (the callers use `asyncio.to_thread`).
"""

from __future__ import annotations

import io

from PIL import Image

from imaging.engine import GenerationError


def decode_picture(data: bytes, engine: str) -> Image.Image:
    """An engine's picture as RGB; anything unreadable is a `GenerationError`."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
        return image.convert("RGB")
    except (OSError, ValueError) as exc:
        raise GenerationError(f"{engine} sent a picture easel cannot read") from exc


def png_bytes(image: Image.Image) -> bytes:
    """A picture to upload for an edit."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def mask_png(mask: Image.Image) -> bytes:
    """A request's mask (mode L, 255 = redraw) as a greyscale PNG, for a LoadImageMask node."""
    buf = io.BytesIO()
    mask.convert("L").save(buf, format="PNG")
    return buf.getvalue()


def alpha_mask_png(mask: Image.Image) -> bytes:
    """A request's mask as OpenAI's edits endpoint reads one: a PNG of the same size whose
    fully transparent pixels are the ones to redraw (128 and up in our mask), opaque
    elsewhere. The colour is ignored; black keeps the file small."""
    alpha = mask.convert("L").point(lambda v: 0 if v >= 128 else 255)
    image = Image.new("RGBA", mask.size, (0, 0, 0, 255))
    image.putalpha(alpha)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
