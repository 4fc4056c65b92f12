"""Downloading images users attach, safely.

Only from the activity's own attachment host (the Bot Connector that sent the message) or
inline data: URIs, never an arbitrary URL a message names; with a byte cap enforced while
streaming; only image content types; and with the format and the pixel count checked
from the header (imaging/uploads.py), so a small file that would inflate to gigabytes (a
decompression bomb) is refused without being decoded. Nothing is decoded here: the one
decode happens in the pipeline, within its bound on decodes at once.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import dataclass
from urllib.parse import urlparse

import aiohttp

from bot.errors import EaselError
from imaging.uploads import UploadError, open_upload

log = logging.getLogger(__name__)

IMAGE_TYPES = ("image/png", "image/jpeg", "image/jpg", "image/webp")


class AttachmentError(EaselError):
    """The attachment was refused; the message is safe to show to the user."""


@dataclass(frozen=True, slots=True)
class AttachmentLimits:
    max_bytes: int = 10 * 1024 * 1024
    timeout_s: float = 20.0


def check_image_bytes(data: bytes, limits: AttachmentLimits) -> bytes:
    """Verify from its header that `data` is a PNG, JPEG or WebP picture within the pixel
    bound; returns it unchanged."""
    try:
        open_upload(data).close()
    except UploadError as exc:
        raise AttachmentError(str(exc)) from None
    return data


def same_host(url: str, service_url: str) -> bool:
    a, b = urlparse(url), urlparse(service_url)
    return a.scheme in ("https", "http") and (a.scheme, a.hostname, a.port) == (
        b.scheme, b.hostname, b.port)


async def fetch_image(url: str, *, service_url: str, session: aiohttp.ClientSession,
                      token: str | None, limits: AttachmentLimits) -> bytes:
    if url.startswith("data:"):
        header, _, payload = url.partition(",")
        if not header.startswith("data:image/") or ";base64" not in header:
            raise AttachmentError("Only image attachments can be edited.")
        if len(payload) * 3 // 4 > limits.max_bytes:
            raise AttachmentError("That picture is too big (over "
                                  f"{limits.max_bytes // (1024 * 1024)} MB).")
        try:
            data = base64.b64decode(payload, validate=True)
        except ValueError:
            raise AttachmentError("That picture's data is damaged.") from None
        return await asyncio.to_thread(check_image_bytes, data, limits)
    if not same_host(url, service_url):
        log.info("refused an attachment from a foreign host: %s", urlparse(url).hostname)
        raise AttachmentError("I can only use pictures pasted or uploaded into this chat.")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with session.get(url, headers=headers, allow_redirects=False,
                               timeout=aiohttp.ClientTimeout(total=limits.timeout_s)) as resp:
            if resp.status != 200:
                raise AttachmentError("I couldn't download that picture; please try again.")
            ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if ctype not in IMAGE_TYPES and ctype != "application/octet-stream":
                raise AttachmentError("Only image attachments (PNG, JPEG, WebP) can be edited.")
            declared = resp.content_length
            if declared is not None and declared > limits.max_bytes:
                raise AttachmentError("That picture is too big (over "
                                      f"{limits.max_bytes // (1024 * 1024)} MB).")
            buf = bytearray()
            async for chunk in resp.content.iter_chunked(64 * 1024):
                buf.extend(chunk)
                if len(buf) > limits.max_bytes:
                    raise AttachmentError("That picture is too big (over "
                                          f"{limits.max_bytes // (1024 * 1024)} MB).")
    except (aiohttp.ClientError, TimeoutError):
        raise AttachmentError("I couldn't download that picture; please try again.") from None
    return await asyncio.to_thread(check_image_bytes, bytes(buf), limits)
