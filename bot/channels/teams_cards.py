"""Adaptive Cards (version 1.5, Teams' limit) for results, progress and the compose box.

Buttons use `Action.Execute` (Universal Actions: Teams sends an `adaptiveCard/action`
invoke) with an `Action.Submit` fallback (a message-back whose `value` carries the same
data) for clients without Universal Actions. Both name a verb and the generation the
card shows, and are turned into the same text commands a user could type.
"""

from __future__ import annotations

from typing import Any

CARD_VERSION = "1.5"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
VERBS = ("vary", "edit", "undo", "pick", "retry", "cancel", "vote",
         "zoom", "pan", "upscale", "region")  # the last four: teams_canvas
VOTES = (("A is better", "a"), ("B is better", "b"), ("Tie", "tie"), ("Both bad", "bad"))


def card_action(title: str, verb: str, data: dict[str, Any], *, style: str | None = None
                ) -> dict[str, Any]:
    payload = {"easel": verb, **data}
    action: dict[str, Any] = {
        "type": "Action.Execute",
        "title": title,
        "verb": verb,
        "data": payload,
        # Clients without Universal Actions post the same data as a message-back.
        "fallback": {"type": "Action.Submit", "title": title, "data": payload},
    }
    if style:
        action["style"] = style
    return action


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None
          ) -> dict[str, Any]:
    card: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if actions:
        card["actions"] = actions
    return card


def battle_card(*, image_urls: list[str], text: str, battle_id: str) -> dict[str, Any]:
    """An arena battle: pictures A and B side by side (names hidden) and the four votes."""
    columns = [{"type": "Column", "width": "stretch", "items": [
        {"type": "Image", "url": url, "size": "Stretch", "altText": f"picture {side}"},
        {"type": "TextBlock", "text": side, "horizontalAlignment": "Center",
         "weight": "Bolder", "spacing": "None"}]} for url, side in zip(image_urls, "AB", strict=False)]
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": text, "wrap": True},
                                  {"type": "ColumnSet", "columns": columns}]
    ref = {"generation_id": battle_id}  # the battle, where other buttons name a generation
    return _card(body, [card_action(title, "vote", {**ref, "choice": choice})
                        for title, choice in VOTES])


def attachment(card: dict[str, Any]) -> dict[str, Any]:
    return {"contentType": CARD_CONTENT_TYPE, "content": card}


def result_card(*, image_urls: list[str], prompt: str, seeds: list[int], size: str,
                generation_id: str | None, title: str = "", note: str = "",
                full_urls: list[str | None] | None = None, with_actions: bool = True,
                engine: str | None = None, tools: list[dict[str, Any]] | None = None
                ) -> dict[str, Any]:
    """The image(s), the prompt used (collapsed), the seed (none when the engine has no
    seed control), the engine (when there are several), and the actions; `tools` go
    between Edit and Undo (the canvas ShowCards, teams_canvas)."""
    ref = {"generation_id": generation_id} if generation_id else {}
    body: list[dict[str, Any]] = []
    if title:
        body.append({"type": "TextBlock", "text": title, "wrap": True, "weight": "Bolder"})
    if len(image_urls) == 1:
        img: dict[str, Any] = {"type": "Image", "url": image_urls[0], "size": "Stretch",
                               "altText": prompt[:200]}
        if full_urls and full_urls[0]:
            img["selectAction"] = {"type": "Action.OpenUrl", "url": full_urls[0]}
        body.append(img)
    else:
        columns = []
        for i, url in enumerate(image_urls):
            col_items: list[dict[str, Any]] = [
                {"type": "Image", "url": url, "size": "Stretch", "altText": f"image {i + 1}"},
                {"type": "TextBlock", "text": f"{i + 1}", "horizontalAlignment": "Center",
                 "spacing": "None", "isSubtle": True},
            ]
            if with_actions:
                col_items.append({"type": "ActionSet", "actions": [
                    card_action("Use this one", "pick", {**ref, "index": i + 1})]})
            columns.append({"type": "Column", "width": "stretch", "items": col_items})
        # Two per row keeps the pictures large enough on a phone.
        for start in range(0, len(columns), 2):
            body.append({"type": "ColumnSet", "columns": columns[start:start + 2]})
    facts = [f"seed {', '.join(str(s) for s in seeds)}"] if seeds else []
    facts += [size, engine] if engine else [size]
    body.append({"type": "TextBlock", "text": " · ".join(facts), "isSubtle": True,
                 "size": "Small", "wrap": True, "spacing": "Small"})
    if note:
        body.append({"type": "TextBlock", "text": note, "wrap": True, "color": "Warning"})
    body.append({"type": "ActionSet", "actions": [{
        "type": "Action.ToggleVisibility", "title": "Prompt used", "targetElements": ["prompt"]}]})
    body.append({"type": "Container", "id": "prompt", "isVisible": False, "items": [
        {"type": "TextBlock", "text": prompt, "wrap": True, "size": "Small",
         "fontType": "Monospace"}]})
    actions: list[dict[str, Any]] = []
    if with_actions and generation_id:
        actions = [
            card_action("Variations", "vary", ref),
            {"type": "Action.ShowCard", "title": "Edit", "card": {
                "type": "AdaptiveCard", "version": CARD_VERSION,
                "body": [{"type": "Input.Text", "id": "instruction", "isRequired": True,
                          "maxLength": 300, "label": "What should change?",
                          "placeholder": "make it darker, add a hat, in watercolour…",
                          "errorMessage": "Say what to change"}],
                "actions": [card_action("Apply edit", "edit", ref, style="positive")]}},
            *(tools or []),
            card_action("Undo", "undo", ref),
        ]
    return _card(body, actions)


def working_card(text: str, status: str, *, job_id: str | None,
                 preview_url: str | None = None, step: int = 0, total: int = 0
                 ) -> dict[str, Any]:
    """The "working on it" message while a job waits or runs: place in line or progress,
    the newest preview, and a Cancel button."""
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": text, "wrap": True}]
    if total:
        bar = "▰" * step + "▱" * (total - step)
        status = f"{status}  {bar}"
    body.append({"type": "TextBlock", "text": status, "wrap": True, "isSubtle": True,
                 "size": "Small"})
    if preview_url:
        body.append({"type": "Image", "url": preview_url, "size": "Medium",
                     "altText": "preview of the picture so far"})
    actions = [card_action("Cancel", "cancel", {"job": job_id}, style="destructive")] \
        if job_id else None
    return _card(body, actions)


def text_card(text: str, *, subtle: str = "") -> dict[str, Any]:
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": text, "wrap": True}]
    if subtle:
        body.append({"type": "TextBlock", "text": subtle, "wrap": True, "isSubtle": True,
                     "size": "Small"})
    return _card(body)


def create_image_form(*, default_size: str, sizes: list[str], max_images: int,
                      prompt: str = "", error: str = "") -> dict[str, Any]:
    """The message extension's task module: prompt, size, count."""
    body: list[dict[str, Any]] = []
    if error:
        body.append({"type": "TextBlock", "text": error, "wrap": True, "color": "Attention"})
    body += [
        {"type": "Input.Text", "id": "prompt", "label": "Describe the image", "isMultiline": True,
         "isRequired": True, "maxLength": 1000, "value": prompt,
         "placeholder": "a lighthouse at dusk, watercolour", "errorMessage": "Describe the image"},
        {"type": "Input.ChoiceSet", "id": "size", "label": "Size", "value": default_size,
         "choices": [{"title": s, "value": s} for s in sizes]},
        {"type": "Input.Number", "id": "count", "label": "How many", "value": 1, "min": 1,
         "max": max_images},
    ]
    return _card(body, [{"type": "Action.Submit", "title": "Create image",
                         "data": {"easel": "create"}}])


def still_working_form(job_id: str, prompt: str) -> dict[str, Any]:
    return _card(
        [{"type": "TextBlock", "text": "Still working on your image…", "weight": "Bolder",
          "wrap": True},
         {"type": "TextBlock", "text": prompt, "wrap": True, "isSubtle": True, "size": "Small"}],
        [{"type": "Action.Submit", "title": "Insert when ready",
          "data": {"easel": "collect", "job": job_id}}],
    )
