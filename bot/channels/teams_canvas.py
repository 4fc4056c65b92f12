"""Teams' canvas actions on a result card and the commands their data stands for.

Two ShowCards join the result card's action bar, so the card stays short until asked:
- "Region…": the picture, a 3×3 grid of Input.Toggle (the cells of imaging.canvas's grid)
  and the instruction; it becomes `/edit N region=x0,y0,x1,y1 <instruction>`, the box
  around the ticked cells.
- "Zoom · Pan · Upscale": Zoom out 1.5× / 2× (`/zoom N 1.5|2`), the four pan arrows
  (`/pan N left|right|up|down`) and Upscale 2× / 4× / 2× with more detail
  (`/upscale N 2x|4x subtle|creative`).
Under several images each ShowCard asks which one (an Input.ChoiceSet); under one, the
data says image 1. The index and argument are always written out: "/zoom 2" alone would
not say whether 2 is the image or the factor.
"""

from __future__ import annotations

import re
from typing import Any

from bot.channels.teams_cards import CARD_VERSION, card_action
from imaging.canvas import GRID_CELLS, grid_region

CANVAS_VERBS = ("zoom", "pan", "upscale", "region")
ZOOMS = ("1.5", "2")
PANS = (("⬅️ Left", "left"), ("➡️ Right", "right"), ("⬆️ Up", "up"), ("⬇️ Down", "down"))
UPSCALES = (("Upscale 2×", "2x", "subtle"), ("Upscale 4×", "4x", "subtle"),
            ("2× with more detail", "2x", "creative"))
# Input ids: unique within the whole card, ShowCards and the Edit box included.
CANVAS_PICTURE, REGION_PICTURE, REGION_INSTRUCTION = ("canvas_picture", "region_picture",
                                                      "region_instruction")
MAX_INSTRUCTION = 300


def cell_id(number: int) -> str:
    return f"cell{number}"


def canvas_actions(generation_id: str, image_urls: list[str]) -> list[dict[str, Any]]:
    """The "Region…" and "Zoom · Pan · Upscale" ShowCards for a result's action bar."""
    several = len(image_urls) > 1
    ref: dict[str, Any] = {"generation_id": generation_id, **({} if several else {"index": 1})}
    tools: list[dict[str, Any]] = _which(CANVAS_PICTURE, len(image_urls)) if several else []
    tools += [
        _heading("Zoom out"),
        _buttons([card_action(f"Zoom out {z}×", "zoom", {**ref, "factor": z}) for z in ZOOMS]),
        _heading("Extend the canvas"),
        _buttons([card_action(title, "pan", {**ref, "direction": d}) for title, d in PANS]),
        _heading("Upscale"),
        _buttons([card_action(title, "upscale", {**ref, "scale": scale, "mode": mode})
                  for title, scale, mode in UPSCALES]),
    ]
    return [_show("Region…", _region_body(image_urls),
                  card_action("Redraw region", "region", ref, style="positive")),
            _show("Zoom · Pan · Upscale", tools)]


def _region_body(image_urls: list[str]) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = []
    if len(image_urls) > 1:
        body += _which(REGION_PICTURE, len(image_urls))
    elif image_urls[0].startswith("https:"):
        # A link costs nothing to repeat; an inline data: picture would double the card
        # (Teams' 1 MB budget for its pictures), and it sits just above anyway.
        body.append({"type": "Image", "url": image_urls[0], "size": "Medium",
                     "horizontalAlignment": "Center", "altText": "the picture to change"})
    body.append({"type": "TextBlock", "wrap": True, "size": "Small", "text":
                 "Tick the squares to redraw (several make one box around them); the rest of "
                 "the picture stays as it is."})
    grid = [{"type": "ColumnSet", "spacing": "Small", "columns": [
        {"type": "Column", "width": "stretch", "items": [
            {"type": "Input.Toggle", "id": cell_id(n), "title": GRID_CELLS[n].name,
             "value": "false", "valueOn": "true", "valueOff": "false"}]}
        for n in range(row, row + 3)]} for row in (1, 4, 7)]
    body.append({"type": "Container", "style": "emphasis", "items": grid})
    body.append({"type": "Input.Text", "id": REGION_INSTRUCTION, "isRequired": True,
                 "maxLength": MAX_INSTRUCTION, "label": "What should be there instead?",
                 "placeholder": "a red kite, a clear sky, an open window…",
                 "errorMessage": "Say what to draw there"})
    return body


def _which(input_id: str, images: int) -> list[dict[str, Any]]:
    return [{"type": "Input.ChoiceSet", "id": input_id, "label": "Which picture?",
             "value": "1", "isRequired": True,
             "choices": [{"title": f"Picture {i}", "value": str(i)}
                         for i in range(1, images + 1)]}]


def _heading(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "weight": "Bolder", "size": "Small",
            "spacing": "Medium"}


def _buttons(actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "ActionSet", "actions": actions}


def _show(title: str, body: list[dict[str, Any]], *actions: dict[str, Any]) -> dict[str, Any]:
    card: dict[str, Any] = {"type": "AdaptiveCard", "version": CARD_VERSION, "body": body}
    if actions:
        card["actions"] = list(actions)
    return {"type": "Action.ShowCard", "title": title, "card": card}


def canvas_command(verb: str, data: dict[str, Any]) -> str | None:
    """A canvas action's data (its inputs merged in) -> the text command; None when it is
    not something our cards send (the caller answers politely)."""
    picked = data.get(REGION_PICTURE if verb == "region" else CANVAS_PICTURE)
    index = _number(picked if picked not in (None, "") else data.get("index", 1))
    if index is None:
        return None
    if verb == "zoom":
        factor = data.get("factor")
        return f"/zoom {index} {factor}" if factor in ZOOMS else None
    if verb == "pan":
        direction = data.get("direction")
        return f"/pan {index} {direction}" if direction in {d for _, d in PANS} else None
    if verb == "upscale":
        scale, mode = data.get("scale"), data.get("mode", "subtle")
        return f"/upscale {index} {scale} {mode}" if scale in ("2x", "4x") \
            and mode in ("subtle", "creative") else None
    if verb == "region":
        cells = {n for n in GRID_CELLS if data.get(cell_id(n)) in (True, "true")}
        instruction = " ".join(str(data.get(REGION_INSTRUCTION) or "").split())
        if not cells or not instruction:
            return None
        return f"/edit {index} region={grid_region(cells)} {instruction[:MAX_INSTRUCTION]}"
    return None


def _number(value: object) -> int | None:
    """An image number as our cards send it (1, "2"); None for anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return int(value) if isinstance(value, str) and re.fullmatch(r"[1-9][0-9]?", value) \
        else None
