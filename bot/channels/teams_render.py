"""Render a channel-neutral `Reply` for Teams: text messages and Adaptive Card results.

Images go by URL when `EASEL_PUBLIC_URL` is set (fitted to Teams' 1024 px / 1 MB picture
limits, with a link to the full-size original when it had to shrink). Without a public
URL they travel inline as data URIs, fitted so that all images of one card together stay
within that 1 MB.
"""

from __future__ import annotations

import asyncio
import base64
import io
from dataclasses import dataclass, replace

from botbuilder.schema import Activity, ActivityTypes, Attachment, TextFormatTypes

from bot.channels import teams_cards as cards
from bot.channels.copies import SignCopy, signed_within
from bot.channels.teams_canvas import canvas_actions
from bot.turn import DeliveredImage, Reply, ReplyKind
from imaging.delivery import TEAMS_LIMITS, ChannelLimits, Encoded, fit_image, room_for_manifest
from imaging.store import ImageStore


@dataclass(frozen=True, slots=True)
class RenderedImage:
    url: str  # an https link or a data: URI
    content_type: str
    width: int
    height: int
    full_url: str | None  # link to the full-size original when the shown one is smaller


class TeamsRenderer:
    def __init__(self, store: ImageStore, public_url: str | None,
                 limits: ChannelLimits = TEAMS_LIMITS,
                 sign_copy: SignCopy | None = None) -> None:
        """`sign_copy`: provenance for a copy re-encoded to fit Teams' limits."""
        self.store = store
        self.sign_copy = sign_copy
        self.public_url = public_url
        self.limits = limits

    def image_url(self, image_id: str) -> str | None:
        return f"{self.public_url}/images/{image_id}" if self.public_url else None

    async def render_image(self, image: DeliveredImage, limits: ChannelLimits | None = None
                           ) -> RenderedImage:
        limits = limits or self.limits
        data = await self.store.read(image.image_id)
        if data is None:
            raise LookupError(f"image {image.image_id} is gone")
        full = self.image_url(image.image_id)
        if image.width <= limits.max_side and image.height <= limits.max_side \
                and len(data) <= limits.max_bytes:
            # Already within the limits: send the stored PNG untouched (no re-encode).
            enc = Encoded(data, "image/png", image.width, image.height, False)
        else:
            from PIL import Image

            original = Image.open(io.BytesIO(data))
            enc = await asyncio.to_thread(fit_image, original, room_for_manifest(limits)
                                          if self.sign_copy else limits)
            if self.sign_copy is not None:  # the re-encode dropped the C2PA manifest
                enc = replace(enc, data=await signed_within(self.sign_copy, data, enc.data,
                                                            limits.max_bytes))
        if not enc.resized and full:
            return RenderedImage(full, "image/png", enc.width, enc.height, None)
        if self.public_url:
            # Keep the message small: store the fitted copy and link it, plus the original.
            # As a copy of it: whatever deletes the original (/forget, trimming) takes it.
            stored = await self.store.save_encoded(enc.data, enc.width, enc.height,
                                                   copy_of=image.image_id)
            return RenderedImage(self.image_url(stored.image_id) or "", enc.content_type,
                                 enc.width, enc.height, full)
        uri = f"data:{enc.content_type};base64,{base64.b64encode(enc.data).decode('ascii')}"
        return RenderedImage(uri, enc.content_type, enc.width, enc.height, None)

    async def render(self, reply: Reply, *, with_actions: bool = True) -> Activity:
        if reply.kind is not ReplyKind.IMAGES:
            return Activity(type=ActivityTypes.message, text=reply.text,
                            text_format=TextFormatTypes.markdown)
        card = await self.result_card(reply, with_actions=with_actions)
        return Activity(type=ActivityTypes.message,
                        attachments=[Attachment(content_type=cards.CARD_CONTENT_TYPE,
                                                content=card)],
                        summary=f"Image: {(reply.user_prompt or reply.prompt or '')[:80]}")

    async def result_card(self, reply: Reply, *, with_actions: bool = True) -> dict:
        n = max(1, len(reply.images))
        per_image = self.limits if self.public_url else ChannelLimits(
            self.limits.max_side, self.limits.max_bytes // n)
        rendered = [await self.render_image(img, per_image) for img in reply.images]
        if reply.battle_id:
            return cards.battle_card(image_urls=[r.url for r in rendered], text=reply.text,
                                     battle_id=reply.battle_id)
        first = reply.images[0]
        notes = []
        if reply.withheld:
            notes.append(f"{reply.withheld} image(s) were withheld by the safety check; "
                         "you can try again.")
        return cards.result_card(
            image_urls=[r.url for r in rendered],
            full_urls=[r.full_url for r in rendered],
            prompt=reply.prompt or "",
            seeds=[i.seed for i in reply.images] if all(i.reproducible for i in reply.images)
            else [],
            engine=reply.engine,
            size=f"{first.width}×{first.height}",
            generation_id=reply.generation_id,
            title=reply.text,
            note=" ".join(notes),
            with_actions=with_actions,
            tools=canvas_actions(reply.generation_id, [r.url for r in rendered])
            if with_actions and reply.generation_id else None,
        )
