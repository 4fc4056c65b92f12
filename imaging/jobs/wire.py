"""Jobs as plain data: what crosses to a Ray Serve replica and what a job record keeps.

A request becomes a dict of plain values (its init image as PNG bytes), so it pickles
cheaply into a replica and serialises into a Redis job record. Output pictures travel
as raw RGB bytes: a replica never spends its GPU's time encoding PNG, and the bot
decodes nothing (the store encodes once, as it does for the local runner).
"""

from __future__ import annotations

import base64
import io
from dataclasses import asdict
from typing import Any

from PIL import Image

from imaging.engine import ImageRequest


def request_to_dict(req: ImageRequest) -> dict[str, Any]:
    data = {k: v for k, v in asdict(req).items() if k != "init_image"}
    if req.init_image is not None:
        buf = io.BytesIO()
        req.init_image.convert("RGB").save(buf, format="PNG", compress_level=1)
        data["init_png"] = buf.getvalue()
    return data


def request_from_dict(data: dict[str, Any]) -> ImageRequest:
    fields = {k: v for k, v in data.items() if k != "init_png"}
    png = data.get("init_png")
    if png is not None:
        with Image.open(io.BytesIO(png)) as im:
            fields["init_image"] = im.convert("RGB")
    return ImageRequest(**fields)


def image_to_wire(image: Image.Image) -> tuple[int, int, bytes]:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return rgb.width, rgb.height, rgb.tobytes()


def image_from_wire(data: tuple[int, int, bytes]) -> Image.Image:
    width, height, raw = data
    return Image.frombytes("RGB", (width, height), raw)


def to_json_safe(data: dict[str, Any]) -> dict[str, Any]:
    """Bytes as base64 text (a job record is JSON)."""
    return {k: {"b64": base64.b64encode(v).decode()} if isinstance(v, bytes) else v
            for k, v in data.items()}


def from_json_safe(data: dict[str, Any]) -> dict[str, Any]:
    return {k: base64.b64decode(v["b64"]) if isinstance(v, dict) and set(v) == {"b64"} else v
            for k, v in data.items()}
