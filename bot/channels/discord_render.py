"""Render channel-neutral `Reply`s as Discord message payloads (content, files, buttons).

All images of one reply go into ONE message, with the U1–U4 / V1–V4 buttons underneath: that is
the Midjourney layout Discord users know (one grid, one row of buttons that refer to its
images), Discord shows up to four attachments as a mosaic, and one PATCH means one
rate-limit slot instead of one per image.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from PIL import Image

from bot.channels.copies import SignCopy, signed_within
from bot.channels.discord_api import FileUpload
from bot.channels.discord_canvas import ASK, PANS, ZOOMS, CanvasAction
from bot.channels.discord_wire import (
    CONTENT_MAX,
    EPHEMERAL,
    PREFIX,
    ButtonStyle,
    ComponentType,
    custom_id,
)
from bot.turn import DeliveredImage, Reply
from imaging.delivery import ChannelLimits, fit_image, room_for_manifest

log = logging.getLogger(__name__)

# Discord rejects a message whose files add up to more than this, whatever each file's limit.
MAX_REQUEST_BYTES = 25 * 1024 * 1024
_FORM_OVERHEAD = 64 * 1024  # payload_json and multipart headers
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\*_~`|[]<>"})


class ImageSource(Protocol):
    """What the renderer needs from the image store (file or Redis backed)."""

    async def read(self, image_id: str) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    payload: dict[str, Any]
    files: list[FileUpload]


def escape_markdown(text: str) -> str:
    """User text shown verbatim: `**`, `~~`, `||`, backticks, masked links and `<@...>`
    mention syntax lose their meaning."""
    return text.translate(_MD_SPECIAL)


def shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: max(0, limit - 1)].rstrip() + "…"


def clip_content(text: str) -> str:
    return text if len(text) <= CONTENT_MAX else text[: CONTENT_MAX - 1] + "…"


def no_mentions(user_id: str | None = None) -> dict[str, Any]:
    """Prompts are user text: "@everyone" in one must not ping a server. Only the person
    who asked is pinged, to tell them their image is ready."""
    return {"parse": [], "users": [user_id] if user_id else []}


def text_payload(text: str, *, ephemeral: bool = False) -> dict[str, Any]:
    payload: dict[str, Any] = {"content": clip_content(text), "allowed_mentions": no_mentions(),
                               "components": [], "attachments": []}
    if ephemeral:
        payload["flags"] = EPHEMERAL
    return payload


def progress_text(working: str, step: int, total: int) -> str:
    pct = int(100 * step / total) if total else 0
    return clip_content(f"{working} {pct}% ({step}/{total})")


def queued_text(working: str, position: int, eta_s: float) -> str:
    return clip_content(f"{working}\n-# #{position} in line · about {round(eta_s)} s")


@dataclass(frozen=True, slots=True)
class ProgressView:
    """The working message while a job waits or runs: its text, a Cancel button, and the
    newest preview (PNG) when one came with this update."""

    text: str
    job: str | None = None
    preview: bytes | None = None

    def message(self) -> RenderedMessage:
        payload: dict[str, Any] = {"content": self.text, "allowed_mentions": no_mentions()}
        cid = custom_id("c", self.job) if self.job else None
        button = _button("Cancel", cid, emoji="✖️", style=ButtonStyle.DANGER)
        payload["components"] = [_row([button])] if button else []
        files: list[FileUpload] = []
        if self.preview is not None:
            # A new preview replaces the old one; without one, the attachments stay as
            # they are (the key is left out of the edit).
            payload["attachments"] = [{"id": 0, "filename": "preview.png",
                                       "description": "preview of the picture so far"}]
            files.append(FileUpload("preview.png", self.preview, "image/png",
                                    "preview of the picture so far"))
        return RenderedMessage(payload, files)


class DiscordRenderer:
    def __init__(self, store: ImageSource, *, max_side: int = 4096,
                 max_request_bytes: int = MAX_REQUEST_BYTES,
                 sign_copy: SignCopy | None = None) -> None:
        self.store = store
        self.sign_copy = sign_copy
        self.max_side = max_side
        self.max_request_bytes = max_request_bytes

    async def render_images(self, reply: Reply, *, user_id: str,
                            attachment_limit: int) -> RenderedMessage:
        images = reply.images[:10]  # Discord's attachment limit per message
        per_file = min(attachment_limit,
                       (self.max_request_bytes - _FORM_OVERHEAD) // max(1, len(images)))
        files = [await self._file(img, i, per_file, reply.prompt)
                 for i, img in enumerate(images, start=1)]
        payload: dict[str, Any] = {
            "content": image_content(reply, user_id),
            "allowed_mentions": no_mentions(user_id),
            "components": vote_buttons(reply.battle_id) if reply.battle_id
            else buttons(reply.generation_id, len(images)),
            "attachments": [
                {"id": i, "filename": f.filename, "description": f.description}
                for i, f in enumerate(files)],
        }
        return RenderedMessage(payload, files)

    async def _file(self, image: DeliveredImage, index: int, limit: int,
                    prompt: str | None) -> FileUpload:
        stored = await self.store.read(image.image_id)
        if stored is None:
            raise LookupError(f"image {image.image_id} is gone")
        data = stored
        content_type, ext = image.content_type, "png"
        if len(data) > limit or max(image.width, image.height) > self.max_side:
            # Only re-encode when the stored PNG does not fit: decoding and encoding a
            # large image costs tens of milliseconds on the delivery path.
            original, limits = stored, ChannelLimits(self.max_side, limit)
            data, content_type = await asyncio.to_thread(
                _fit, data, room_for_manifest(limits) if self.sign_copy else limits)
            if self.sign_copy is not None:  # the re-encode dropped the C2PA manifest
                data = await signed_within(self.sign_copy, original, data, limit)
            ext = "jpg" if content_type == "image/jpeg" else "png"
        alt = shorten(prompt, 1024) if prompt else None  # attachment alt text limit
        return FileUpload(f"easel-{image.seed}-{index}.{ext}", data, content_type, alt)


def _fit(data: bytes, limits: ChannelLimits) -> tuple[bytes, str]:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        enc = fit_image(img, limits)
    return enc.data, enc.content_type


def image_content(reply: Reply, user_id: str) -> str:
    asked = escape_markdown(shorten(reply.user_prompt or reply.prompt or "", 300))
    lines = [f"**{asked}** — <@{user_id}>" if asked else f"<@{user_id}>"]
    if reply.text:
        lines.append(shorten(reply.text, 300))
    if reply.prompt:
        lines.append(f"**Prompt used:** {escape_markdown(shorten(reply.prompt, 1200))}")
    facts = []
    if reply.images:
        if all(i.reproducible for i in reply.images):  # an engine without seeds has none
            facts.append("seed " + ", ".join(str(i.seed) for i in reply.images))
        facts.append(f"{reply.images[0].width}×{reply.images[0].height}")
    if reply.steps:
        facts.append(f"{reply.steps} steps")
    if reply.engine:
        facts.append(reply.engine)
    if facts:
        lines.append("-# " + " · ".join(facts))
    if reply.withheld:
        lines.append(f"{reply.withheld} image(s) were withheld by the safety check; "
                     "you can try again.")
    return clip_content("\n".join(lines))


def vote_buttons(battle_id: str) -> list[dict[str, Any]]:
    """An arena battle's four votes (the first attachment is A, the second B)."""
    votes = [_button(label, f"{PREFIX}:a:{battle_id}:{choice}",
                     style=ButtonStyle.PRIMARY if choice in ("a", "b") else ButtonStyle.SECONDARY)
             for label, choice in (("A is better", "a"), ("B is better", "b"), ("Tie", "tie"),
                                   ("Both bad", "bad"))]
    return [_row(votes)]


def buttons(generation_id: str | None, images: int) -> list[dict[str, Any]]:
    """Midjourney's layout, within Discord's 5 rows of 5: U1–Un (upscale), V1–Vn, then
    Retry / Edit / Vary (Region) / Undo, Zoom out 1.5× / 2×, and the four pan arrows.
    Without a generation id (or one too long for a custom_id) there is nothing for a
    button to point at: no buttons."""
    if not generation_id:
        return []
    shown = range(1, min(images, 5) + 1)
    # Zoom, pan and region name image 1 under one image; under several, ASK: a press
    # first asks which image (discord_canvas).
    one = 1 if images == 1 else ASK

    def canvas(label: str, kind: str, arg: str = "", **style: Any) -> dict[str, Any] | None:
        return _button(label, CanvasAction(kind, generation_id, one, arg).custom_id(), **style)

    upscales = [_button(f"U{i}", CanvasAction("x", generation_id, i).custom_id())
                for i in shown]
    variations = [_button(f"V{i}", custom_id("v", generation_id, i)) for i in shown]
    actions = [
        _button("Retry", custom_id("r", generation_id), emoji="🔄"),
        _button("Edit", custom_id("e", generation_id), emoji="✏️", style=ButtonStyle.PRIMARY),
        canvas("Vary (Region)", "g", emoji="🖌️"),
        _button("Undo", custom_id("u", generation_id), emoji="↩️"),
    ]
    zooms = [canvas(f"Zoom out {z}×", "z", z, emoji="🔍") for z in ZOOMS]
    pans = [canvas("", "p", key, emoji=arrow) for key, (_, arrow) in PANS.items()]
    groups = [upscales, variations, actions, zooms, pans]
    if any(b is None for group in groups for b in group):
        return []
    return [_row(group) for group in groups if group]


def _button(label: str, cid: str | None, *, emoji: str | None = None,
            style: ButtonStyle = ButtonStyle.SECONDARY) -> dict[str, Any] | None:
    if cid is None:
        return None
    button: dict[str, Any] = {"type": ComponentType.BUTTON, "style": style, "custom_id": cid}
    if label:  # the pan arrows are an emoji alone
        button["label"] = label
    if emoji:
        button["emoji"] = {"name": emoji}
    return button


def _row(items: Sequence[dict[str, Any] | None]) -> dict[str, Any]:
    return {"type": ComponentType.ACTION_ROW, "components": [b for b in items if b]}
