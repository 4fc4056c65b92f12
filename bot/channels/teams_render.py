"""Render a channel-neutral `Reply` as a Bot Framework activity for Teams."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass

from botbuilder.schema import Activity, ActivityTypes, Attachment, TextFormatTypes

from bot.turn import DeliveredImage, Reply, ReplyKind
from imaging.delivery import TEAMS_LIMITS, ChannelLimits, Encoded, fit_image
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
                 limits: ChannelLimits = TEAMS_LIMITS) -> None:
        self.store = store
        self.public_url = public_url
        self.limits = limits

    def image_url(self, image_id: str) -> str | None:
        return f"{self.public_url}/images/{image_id}" if self.public_url else None

    async def render_image(self, image: DeliveredImage) -> RenderedImage:
        original = await self.store.open(image.image_id)
        if original is None:
            raise LookupError(f"image {image.image_id} is gone")
        enc: Encoded = await asyncio.to_thread(fit_image, original, self.limits)
        full = self.image_url(image.image_id)
        if not enc.resized and full:
            return RenderedImage(full, "image/png", enc.width, enc.height, None)
        if self.public_url:
            # Keep the message small: store the fitted copy and link it, plus the original.
            import io

            from PIL import Image

            small = Image.open(io.BytesIO(enc.data))
            stored = await self.store.save(small)
            return RenderedImage(self.image_url(stored.image_id) or "", enc.content_type,
                                 enc.width, enc.height, full)
        uri = f"data:{enc.content_type};base64,{base64.b64encode(enc.data).decode('ascii')}"
        return RenderedImage(uri, enc.content_type, enc.width, enc.height, None)

    async def render(self, reply: Reply) -> Activity:
        if reply.kind is not ReplyKind.IMAGES:
            return Activity(type=ActivityTypes.message, text=reply.text,
                            text_format=TextFormatTypes.markdown)
        rendered = [await self.render_image(img) for img in reply.images]
        attachments = [
            Attachment(content_type=r.content_type, content_url=r.url,
                       name=f"easel-{img.seed}.{'png' if r.content_type == 'image/png' else 'jpg'}")
            for r, img in zip(rendered, reply.images, strict=True)
        ]
        lines = []
        if reply.text:
            lines.append(reply.text)
        seeds = ", ".join(str(i.seed) for i in reply.images)
        lines.append(f"**Prompt used:** {reply.prompt}")
        lines.append(f"_seed {seeds} · {reply.images[0].width}×{reply.images[0].height}_")
        for n, r in enumerate(rendered, start=1):
            if r.full_url:
                lines.append(f"[Full size image {n}]({r.full_url})")
        if reply.withheld:
            lines.append(f"{reply.withheld} image(s) were withheld by the safety check; "
                         "you can try again.")
        return Activity(type=ActivityTypes.message, text="\n\n".join(lines),
                        text_format=TextFormatTypes.markdown, attachments=attachments)
