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
