"""The pictures an edit or a variation sends, made into one masked request for an engine.

Pictures are PNG, JPEG or WebP (imaging/uploads.py opens them, bounded), turned upright as
their EXIF says. The mask is a PNG the size of the first picture whose transparent part
(alpha under 128) is what to redraw, as OpenAI defines it; engines take a mode-L mask,
255 = redraw (imaging/engine.py), so it is converted here.

An engine draws from one picture. Several pictures (`image[]`, up to 16) are laid out on
one canvas, a grid of equal cells in the order sent, each fitted inside its cell; the
prompt then says what to make of them. A mask applies to the first picture (OpenAI's
rule), placed where that picture sits; the other cells are kept as they are.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from PIL import Image, ImageOps

from imaging.uploads import UploadError, open_upload

MAX_PICTURES = 16
_BACKDROP = (127, 127, 127)


class MaskError(ValueError):
    """The mask cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class Picture:
    image: Image.Image  # RGB, upright
    data: bytes  # as sent: the manifest's ingredient

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def open_picture(data: bytes) -> Picture:
    """Blocking. Raises `UploadError` (not a picture easel opens, or too large)."""
    image = open_upload(data)
    try:
        image.load()
        upright = ImageOps.exif_transpose(image).convert("RGB")
    except Exception as exc:  # PIL raises many types for damaged files
        raise UploadError("That picture could not be read (it may be damaged).") from exc
    return Picture(upright, data)


def open_mask(data: bytes) -> Image.Image:
    """Blocking. The redraw mask (mode L, 255 = redraw) of an OpenAI-style PNG mask."""
    try:
        image = open_upload(data)
        image.load()
    except UploadError as exc:
        raise MaskError(f"The mask must be a PNG picture ({exc})") from None
    except Exception as exc:
        raise MaskError("The mask could not be read (it may be damaged).") from exc
    if image.format != "PNG":
        raise MaskError("The mask must be a PNG picture.")
    if "A" not in image.getbands() and "transparency" not in image.info:
        raise MaskError("The mask has no alpha channel: its transparent part is what to "
                        "redraw.")
    alpha = image.convert("RGBA").getchannel("A")
    return alpha.point(lambda a: 255 if a < 128 else 0).convert("L")


def fitted_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """A picture's size as a drawing size: at most `max_side`, sides multiples of 8, at
    least 64 (what diffusion models need)."""
    scale = min(1.0, max_side / max(width, height))
    return (max(64, int(width * scale) // 8 * 8), max(64, int(height * scale) // 8 * 8))


def _cells(count: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(count))
    return cols, math.ceil(count / cols)


def _contain(image: Image.Image, box: tuple[int, int], resample: Image.Resampling
             ) -> tuple[Image.Image, tuple[int, int]]:
    """`image` scaled to fit inside `box`, and its offset there (centred)."""
    scale = min(box[0] / image.width, box[1] / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, resample), ((box[0] - size[0]) // 2, (box[1] - size[1]) // 2)


def compose(pictures: list[Picture], mask: Image.Image | None, size: tuple[int, int]
            ) -> tuple[Image.Image, Image.Image | None]:
    """Blocking. The init image (RGB) and mask (L or None) for an engine, both `size`."""
    if len(pictures) == 1:
        init = pictures[0].image.resize(size, Image.Resampling.LANCZOS)
        return init, mask.resize(size, Image.Resampling.NEAREST) if mask is not None else None
    cols, rows = _cells(len(pictures))
    cell = (size[0] // cols, size[1] // rows)
    canvas = Image.new("RGB", size, _BACKDROP)
    redraw = Image.new("L", size, 0) if mask is not None else None
    for i, picture in enumerate(pictures):
        origin = ((i % cols) * cell[0], (i // cols) * cell[1])
        fitted, offset = _contain(picture.image, cell, Image.Resampling.LANCZOS)
        at = (origin[0] + offset[0], origin[1] + offset[1])
        canvas.paste(fitted, at)
        if i == 0 and mask is not None and redraw is not None:
            redraw.paste(mask.resize(fitted.size, Image.Resampling.NEAREST), at)
    return canvas, redraw


def encode(image: Image.Image, fmt: str, compression: int | None) -> bytes:
    """Blocking. `fmt` png|jpeg|webp; `compression` 0-100 as OpenAI means it (100: the
    least compression, the best quality) for jpeg and webp."""
    buf = io.BytesIO()
    quality = 95 if compression is None else max(1, min(100, compression))
    if fmt == "jpeg":
        image.convert("RGB").save(buf, format="JPEG", quality=quality)
    elif fmt == "webp":
        image.save(buf, format="WEBP", quality=quality)
    else:
        image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()
