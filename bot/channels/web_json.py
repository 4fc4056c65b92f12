"""The web chat's JSON: replies, job events and history entries as the page renders them."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

from PIL import Image

from bot.turn import Reply
from imaging.jobs import JobEvent, JobQueued


def reply_json(reply: Reply) -> dict[str, Any]:
    """A reply as the page renders it (images by URL; they are served at /images/{id})."""
    return {
        "kind": reply.kind.value,
        "text": reply.text,
        "prompt": reply.prompt,
        "user_prompt": reply.user_prompt,
        # An engine without seed control has no seed worth showing: null.
        "images": [{"url": f"/images/{im.image_id}", "seed": im.seed if im.reproducible
                    else None, "width": im.width, "height": im.height} for im in reply.images],
        "engine": reply.engine,
        "battle_id": reply.battle_id,  # an arena battle: vote on it, names hidden
        "withheld": reply.withheld,
        "generation_id": reply.generation_id,
        "retry_after_s": reply.retry_after_s,
    }


async def event_json(event: JobEvent) -> dict[str, Any]:
    """`queued` {job, position, eta_s} or `progress` {job, step, total, preview}."""
    if isinstance(event, JobQueued):
        return {"type": "queued", "job": event.job, "position": event.position,
                "eta_s": event.eta_s}
    preview = None
    if event.preview is not None:
        preview = await asyncio.to_thread(data_uri, event.preview)  # an image codec
    return {"type": "progress", "job": event.job, "step": event.step, "total": event.total,
            "preview": preview}


def data_uri(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def history_json(entries: list[tuple[str, Reply]]) -> dict[str, Any]:
    return {"entries": [{"user": user, "reply": reply_json(reply)} for user, reply in entries]}
