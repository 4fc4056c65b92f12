"""Fit images to a channel's limits (Teams: ≤ 1024×1024 px and ≤ 1 MB per picture)."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image


@dataclass(frozen=True, slots=True)
class ChannelLimits:
    max_side: int
    max_bytes: int


TEAMS_LIMITS = ChannelLimits(max_side=1024, max_bytes=1_000_000)
# Room left for the C2PA manifest a re-encoded copy is signed with (about 3 KB, up to
# about 8 KB with its parent as ingredient): the signed copy must still fit the limit.
MANIFEST_RESERVE = 16_384


def room_for_manifest(limits: ChannelLimits) -> ChannelLimits:
    """The limits to fit a copy to before signing it (unchanged when they are so small
    that a manifest cannot fit anyway: such a copy goes with its watermark only)."""
    if limits.max_bytes <= 4 * MANIFEST_RESERVE:
        return limits
    return ChannelLimits(limits.max_side, limits.max_bytes - MANIFEST_RESERVE)


@dataclass(frozen=True, slots=True)
class Encoded:
    data: bytes
    content_type: str
    width: int
    height: int
    resized: bool  # smaller or re-encoded compared with the stored original


def fit_image(image: Image.Image, limits: ChannelLimits) -> Encoded:
    """PNG when it fits (lossless is best for generated art), else progressively
    smaller JPEGs: quality first, then pixels, until the byte limit holds."""
    img = image.convert("RGB") if image.mode not in ("RGB", "L") else image
    resized = False
    if max(img.size) > limits.max_side:
        img = img.copy()
        img.thumbnail((limits.max_side, limits.max_side), Image.Resampling.LANCZOS)
        resized = True
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    if buf.tell() <= limits.max_bytes:
        return Encoded(buf.getvalue(), "image/png", img.width, img.height, resized)
    while True:
        for quality in (90, 80, 70, 60):
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=quality, optimize=True)
            if buf.tell() <= limits.max_bytes:
                return Encoded(buf.getvalue(), "image/jpeg", img.width, img.height, True)
        if max(img.size) <= 64:
            raise ValueError("image cannot be encoded under the byte limit")
        img = img.resize((max(1, img.width * 3 // 4), max(1, img.height * 3 // 4)),
                         Image.Resampling.LANCZOS)
