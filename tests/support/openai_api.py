"""Helpers for the OpenAI Images API tests: pictures and masks as clients send them, and
the official `openai` SDK's client pointed at a running easel."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def png(size: tuple[int, int] = (256, 256), colour: tuple[int, int, int] = (200, 40, 40)
        ) -> bytes:
    image = Image.new("RGB", size, (30, 60, 160))
    ImageDraw.Draw(image).ellipse((size[0] // 4, size[1] // 4, 3 * size[0] // 4,
                                   3 * size[1] // 4), fill=colour)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def mask_png(size: tuple[int, int] = (256, 256), hole: tuple[int, int, int, int] | None = None
             ) -> bytes:
    """OpenAI's kind of mask: opaque where the picture stays, transparent where it is
    redrawn (`hole`, default the left half)."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    ImageDraw.Draw(mask).rectangle(hole or (0, 0, size[0] // 2, size[1]), fill=(0, 0, 0, 0))
    buf = io.BytesIO()
    mask.save(buf, format="PNG")
    return buf.getvalue()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def client(url: str, key: str):
    """The official SDK, as an app would configure it for easel (no retries: a test
    wants the first answer)."""
    from openai import AsyncOpenAI

    return AsyncOpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=120)
