"""Jobs as plain data: what crosses to a Ray Serve replica and what a job record keeps.

A request becomes a dict of plain values (its init image and mask as PNG bytes), so it pickles
cheaply into a replica and serialises into a Redis job record. Output pictures travel
as raw RGB bytes: a replica never spends its GPU's time encoding PNG, and the bot
decodes nothing (the store encodes once, as it does for the local runner).
"""

from __future__ import annotations

import base64
import io
from typing import Any, Literal, NotRequired, TypedDict

from PIL import Image

from imaging.engine import ImageRequest

WireImage = tuple[int, int, bytes]  # width, height, raw RGB


class WireRequest(TypedDict):
    """An `ImageRequest` as plain values (its init image and mask as PNG bytes)."""

    prompt: str
    n: int
    width: int
    height: int
    steps: int
    guidance_scale: float
    seed: int
    negative_prompt: str | None
    strength: float | None
    init_png: NotRequired[bytes]
    mask_png: NotRequired[bytes]  # greyscale, the init image's size (a masked edit)


class WireJob(TypedDict):
    id: str
    request: WireRequest


class BatchCall(TypedDict):
    """One fair batch from the bot to a replica: `ImageWorker.generate(call)`."""

    jobs: list[WireJob]


class WorkerInfo(TypedDict):
    """A replica's engine as the bot needs to know it: `ImageWorker.describe()`."""

    name: str
    model_name: str
    default_size: list[int]
    default_steps: int
    max_batch_images: int
    guidance_scale: float
    device: str
    is_demo: bool
    capabilities: dict[str, Any]
    replica: str
    max_replicas: int | None


class BatchInfo(TypedDict):
    id: str
    jobs: int
    replica: str
    seconds: float


class ProgressEvent(TypedDict):
    type: Literal["progress"]
    job: str
    step: int
    total: int
    preview: WireImage | None


class ResultEvent(TypedDict):
    type: Literal["result"]
    job: str
    images: list[WireImage]
    seeds: list[int]
    revised_prompt: str | None
    batch: BatchInfo


class CancelledEvent(TypedDict):
    type: Literal["cancelled"]
    job: str


class ErrorEvent(TypedDict):
    type: Literal["error"]
    job: str
    message: str


# What a replica streams back, one event per job (the last one of each job ends it).
WorkerEvent = ProgressEvent | ResultEvent | CancelledEvent | ErrorEvent


def request_to_dict(req: ImageRequest) -> WireRequest:
    data = WireRequest(prompt=req.prompt, n=req.n, width=req.width, height=req.height,
                       steps=req.steps, guidance_scale=req.guidance_scale, seed=req.seed,
                       negative_prompt=req.negative_prompt, strength=req.strength)
    if req.init_image is not None:
        data["init_png"] = _png(req.init_image.convert("RGB"))
    if req.mask is not None:
        data["mask_png"] = _png(req.mask)
    return data


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _unpng(data: bytes | None, mode: str) -> Image.Image | None:
    if data is None:
        return None
    with Image.open(io.BytesIO(data)) as im:
        return im.convert(mode)


def request_from_dict(data: WireRequest) -> ImageRequest:
    return ImageRequest(prompt=data["prompt"], n=data["n"], width=data["width"],
                        height=data["height"], steps=data["steps"],
                        guidance_scale=data["guidance_scale"], seed=data["seed"],
                        negative_prompt=data["negative_prompt"],
                        init_image=_unpng(data.get("init_png"), "RGB"),
                        strength=data["strength"], mask=_unpng(data.get("mask_png"), "L"))


def image_to_wire(image: Image.Image) -> WireImage:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return rgb.width, rgb.height, rgb.tobytes()


def image_from_wire(data: WireImage) -> Image.Image:
    width, height, raw = data
    return Image.frombytes("RGB", (width, height), raw)


def to_json_safe(data: dict[str, Any]) -> dict[str, Any]:
    """Bytes as base64 text (a job record is JSON)."""
    return {k: {"b64": base64.b64encode(v).decode()} if isinstance(v, bytes) else v
            for k, v in data.items()}


def from_json_safe(data: dict[str, Any]) -> dict[str, Any]:
    return {k: base64.b64decode(v["b64"]) if isinstance(v, dict) and set(v) == {"b64"} else v
            for k, v in data.items()}
