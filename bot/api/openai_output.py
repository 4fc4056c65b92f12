"""What the OpenAI Images API answers: `{"created", "data": [...], "usage", ...}`.

Each picture is the stored one, as the image tool made it (watermarked, with its signed
C2PA manifest), base64 in `b64_json` or at `url` (EASEL_PUBLIC_URL, else the address the
request came to, then /images/{id}). A `jpeg` or `webp` answer is a re-encoded copy,
signed again as an edit of the stored picture (as channels' copies are,
bot/channels/copies.py) and, for a URL, stored beside it (it goes when the picture goes).

`usage` follows OpenAI's shape; easel counts no tokens, so its numbers are counts: the
prompt's words and the pictures sent in, and the pictures made out.
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass
from typing import Any

from PIL import Image

from bot.api.openai_images import Drawn, ImagesDeps
from bot.api.openai_inputs import encode
from imaging.store import decode_stored
from tools.base import DeliveredImage


@dataclass(frozen=True, slots=True)
class OutputOptions:
    format: str = "png"  # png | jpeg | webp
    compression: int | None = None
    as_url: bool = False
    base_url: str = ""  # where /images/{id} is served
    quality: str = "medium"  # as the answer names it
    revised: bool = False  # say `revised_prompt` (easel_rewrite, or the engine revised it)


def usage(drawn: Drawn) -> dict[str, Any]:
    words = len(drawn.asked.split())
    made = len(drawn.images)
    return {"input_tokens": words + drawn.inputs,
            "input_tokens_details": {"text_tokens": words, "image_tokens": drawn.inputs},
            "output_tokens": made, "total_tokens": words + drawn.inputs + made,
            "output_tokens_details": {"image_tokens": made, "text_tokens": 0}}


async def picture_bytes(deps: ImagesDeps, image: DeliveredImage, options: OutputOptions
                        ) -> tuple[bytes, str]:
    """The picture as asked for, and the id it is served under."""
    original = await deps.store.read(image.image_id)
    if original is None:
        raise LookupError(f"image {image.image_id} was deleted before it could be sent")
    if options.format == "png":
        return original, image.image_id
    decoded = await decode_stored(original)
    assert decoded is not None
    copy = await asyncio.to_thread(encode, decoded, options.format, options.compression)
    if deps.sign_copy is not None:
        copy = await deps.sign_copy(original, copy)
    if not options.as_url:
        return copy, image.image_id
    stored = await deps.store.save_encoded(copy, image.width, image.height,
                                           copy_of=image.image_id)
    return copy, stored.image_id


async def entries(deps: ImagesDeps, drawn: Drawn, options: OutputOptions
                  ) -> list[dict[str, Any]]:
    out = []
    for image in drawn.images:
        data, served = await picture_bytes(deps, image, options)
        entry: dict[str, Any] = {"url": f"{options.base_url}/images/{served}"} \
            if options.as_url else {"b64_json": base64.b64encode(data).decode("ascii")}
        entry["revised_prompt"] = drawn.prompt if options.revised else None
        out.append(entry)
    return out


def answer(drawn: Drawn, data: list[dict[str, Any]], options: OutputOptions
           ) -> dict[str, Any]:
    return {"created": int(time.time()), "data": data, "background": "opaque",
            "output_format": options.format, "quality": options.quality,
            "size": f"{drawn.width}x{drawn.height}", "usage": usage(drawn)}


async def preview_b64(preview: Image.Image, fmt: str) -> str:
    data = await asyncio.to_thread(encode, preview, fmt, None)
    return base64.b64encode(data).decode("ascii")
