"""Reading what easel sends to Teams (Adaptive Card results) in tests."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

from PIL import Image

CARD = "application/vnd.microsoft.card.adaptive"


def card(activity: dict[str, Any]) -> dict[str, Any]:
    for att in activity.get("attachments") or []:
        if att.get("contentType") == CARD:
            return att["content"]
    raise AssertionError(f"no adaptive card in {activity.get('text')!r}")


def walk(node: Any):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def card_images(activity: dict[str, Any]) -> list[str]:
    return [n["url"] for n in walk(card(activity)) if n.get("type") == "Image"]


def card_prompt(activity: dict[str, Any]) -> str:
    for n in walk(card(activity)):
        if n.get("id") == "prompt":
            return n["items"][0]["text"]
    raise AssertionError("no prompt section")


def card_seeds(activity: dict[str, Any]) -> list[int]:
    for n in walk(card(activity)):
        if n.get("type") == "TextBlock" and str(n.get("text", "")).startswith("seed "):
            return [int(s) for s in re.findall(r"\d+", n["text"].split("·")[0])]
    raise AssertionError("no seed line")


def card_actions(activity: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in walk(card(activity)) if str(n.get("type", "")).startswith("Action.")]


def decode(url: str) -> Image.Image:
    assert url.startswith("data:image/"), url[:40]
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    img.load()
    return img


def is_result(activity: dict[str, Any]) -> bool:
    return any(a.get("contentType") == CARD for a in activity.get("attachments") or []) and \
        bool(card_images(activity))
