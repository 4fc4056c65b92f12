"""Issue 26 in Teams: the result card's canvas actions (Zoom out, Pan, Upscale and the
Region… card with its 3×3 grid of toggles), checked as Adaptive Cards 1.5, and the exact
command text each press becomes, over real activity JSON."""

from __future__ import annotations

from typing import Any

import pytest

from bot.channels import teams_cards as cards
from bot.channels.teams_canvas import canvas_actions, canvas_command
from bot.turn import Turn
from imaging.canvas import GRID_CELLS
from tests.support.helpers import (
    card,
    card_actions,
    card_images,
    decode,
    is_result,
    next_image,
    walk,
)
from tests.support.helpers import post_activity as _post

# ---- Adaptive Cards 1.5: the properties each type may have (the schema's, for what Teams
# renders) and those it must have. Enumerations are compared case-insensitively, as hosts do.
_ELEMENT = {"type", "id", "spacing", "separator", "height", "isVisible", "requires", "fallback"}
_INPUT = _ELEMENT | {"label", "isRequired", "errorMessage"}
_ACTION = {"type", "id", "title", "iconUrl", "style", "fallback", "tooltip", "isEnabled",
           "mode", "requires"}
ALLOWED = {
    "AdaptiveCard": {"type", "version", "body", "actions", "$schema", "msteams", "fallbackText",
                     "backgroundImage", "minHeight", "rtl", "speak", "lang", "selectAction",
                     "verticalContentAlignment", "refresh", "authentication", "metadata"},
    "TextBlock": _ELEMENT | {"text", "color", "fontType", "horizontalAlignment", "isSubtle",
                             "maxLines", "size", "weight", "wrap", "style"},
    "Image": _ELEMENT | {"url", "altText", "backgroundColor", "horizontalAlignment",
                         "selectAction", "size", "style", "width"},
    "Container": _ELEMENT | {"items", "selectAction", "style", "verticalContentAlignment",
                             "bleed", "backgroundImage", "minHeight", "rtl"},
    "ColumnSet": _ELEMENT | {"columns", "selectAction", "style", "bleed", "minHeight",
                             "horizontalAlignment"},
    "Column": _ELEMENT | {"items", "backgroundImage", "bleed", "minHeight", "rtl",
                          "selectAction", "style", "verticalContentAlignment", "width"},
    "ActionSet": _ELEMENT | {"actions"},
    "Input.Text": _INPUT | {"isMultiline", "maxLength", "placeholder", "regex", "style",
                            "inlineAction", "value"},
    "Input.Toggle": _INPUT | {"title", "value", "valueOff", "valueOn", "wrap"},
    "Input.ChoiceSet": _INPUT | {"choices", "isMultiSelect", "style", "value", "placeholder",
                                 "wrap"},
    "Input.Number": _INPUT | {"max", "min", "placeholder", "value"},
    "Action.Execute": _ACTION | {"verb", "data", "associatedInputs"},
    "Action.Submit": _ACTION | {"data", "associatedInputs"},
    "Action.ShowCard": _ACTION | {"card"},
    "Action.ToggleVisibility": _ACTION | {"targetElements"},
    "Action.OpenUrl": _ACTION | {"url"},
}
REQUIRED = {"TextBlock": {"text"}, "Image": {"url"}, "ActionSet": {"actions"},
            "Container": {"items"}, "Input.Text": {"id"}, "Input.Toggle": {"id", "title"},
            "Input.ChoiceSet": {"id", "choices"}, "Input.Number": {"id"},
            "Action.ShowCard": {"card"}, "Action.ToggleVisibility": {"targetElements"},
            "Action.OpenUrl": {"url"}}
ENUMS = {"spacing": {"none", "small", "default", "medium", "large", "extralarge", "padding"},
         "weight": {"lighter", "default", "bolder"},
         "horizontalAlignment": {"left", "center", "right"}}
STYLES = {"Container": {"default", "emphasis", "good", "attention", "warning", "accent"},
          "Image": {"default", "person"}, "Input.ChoiceSet": {"compact", "expanded", "filtered"},
          "Action": {"default", "positive", "destructive"}}
TEAMS_MAX_ACTIONS = 6


def check_adaptive_card_15(root: dict[str, Any]) -> None:
    assert root["type"] == "AdaptiveCard" and root["version"] == "1.5"
    ids: list[str] = []
    for node in walk(root):
        kind = node.get("type")
        if not (isinstance(kind, str) and kind[:1].isupper()):
            continue  # a choice, data, msteams, an emoji…
        assert kind in ALLOWED, kind
        assert set(node) <= ALLOWED[kind], (kind, set(node) - ALLOWED[kind])
        assert REQUIRED.get(kind, set()) <= set(node), (kind, node)
        if "id" in node and not kind.startswith("Action."):
            ids.append(node["id"])
        for key, values in ENUMS.items():
            assert key not in node or str(node[key]).lower() in values, (kind, key)
        style = STYLES.get("Action" if kind.startswith("Action.") else kind)
        if style is not None and "style" in node:
            assert node["style"].lower() in style, (kind, node["style"])
        if kind == "AdaptiveCard":
            assert len(node.get("actions", [])) <= TEAMS_MAX_ACTIONS
        if kind == "ActionSet":
            assert 1 <= len(node["actions"]) <= TEAMS_MAX_ACTIONS
        if kind == "Action.ShowCard":
            assert node["card"]["type"] == "AdaptiveCard"
        if kind == "Action.Execute":  # older clients post the same data as a message-back
            assert node["fallback"] == {"type": "Action.Submit", "title": node["title"],
                                        "data": node["data"]}
        if kind == "Input.Toggle":
            assert all(isinstance(node.get(k, ""), str) for k in ("value", "valueOn", "valueOff"))
        if kind == "Input.ChoiceSet":
            assert all(set(c) == {"title", "value"} and isinstance(c["value"], str)
                       for c in node["choices"])
            assert node.get("value") in {c["value"] for c in node["choices"]}
    assert len(ids) == len(set(ids)), ids  # input ids name the values a submit carries


def _by_title(root: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Actions by title (an Action.Execute, not the message-back fallback it carries)."""
    return {n["title"]: n for n in walk(root)
            if str(n.get("type", "")).startswith("Action.") and n["type"] != "Action.Submit"}


def _result(urls: list[str]) -> dict[str, Any]:
    return cards.result_card(image_urls=urls, prompt="a fox", seeds=[1] * len(urls),
                             size="256×256", generation_id="g1",
                             tools=canvas_actions("g1", urls))


# ---- the card -------------------------------------------------------------------------------
@pytest.mark.parametrize("urls", [["data:image/png;base64,AAAA"], ["https://e.example/1"],
                                  ["https://e.example/1", "https://e.example/2"],
                                  ["data:image/png;base64,AA"] * 4])
def test_the_result_card_with_canvas_actions_is_a_valid_1_5_card(urls: list[str]):
    root = _result(urls)
    check_adaptive_card_15(root)
    top = [a["title"] for a in root["actions"]]
    assert top == ["Variations", "Edit", "Region…", "Zoom · Pan · Upscale", "Undo"]
    titles = _by_title(root)
    for title in ("Zoom out 1.5×", "Zoom out 2×", "⬅️ Left", "➡️ Right", "⬆️ Up", "⬇️ Down",
                  "Upscale 2×", "Upscale 4×", "2× with more detail", "Redraw region"):
        assert titles[title]["type"] == "Action.Execute", title
    region = titles["Region…"]["card"]
    toggles = [n for n in walk(region) if n.get("type") == "Input.Toggle"]
    assert [t["title"] for t in toggles] == [c.name for c in GRID_CELLS.values()]
    rows = [n for n in walk(region) if n.get("type") == "ColumnSet"]
    assert [len(r["columns"]) for r in rows] == [3, 3, 3]  # laid out as the grid it is
    assert any(n.get("id") == "region_instruction" and n["isRequired"] for n in walk(region))
    pictures = [n for n in walk(root) if n.get("type") == "Input.ChoiceSet"]
    shown = [n["url"] for n in walk(region) if n.get("type") == "Image"]
    if len(urls) > 1:  # each ShowCard asks which picture; the buttons do not say
        assert [p["id"] for p in pictures] == ["region_picture", "canvas_picture"]
        assert all(len(p["choices"]) == len(urls) for p in pictures)
        assert all("index" not in a["data"] for a in card_actions({"attachments": [
            {"contentType": cards.CARD_CONTENT_TYPE, "content": region}]})
            if a["type"] == "Action.Execute")
        assert shown == []
    else:
        assert pictures == [] and titles["Zoom out 2×"]["data"]["index"] == 1
        # A link is cheap to repeat over the grid; an inline picture would double the card.
        assert shown == ([] if urls[0].startswith("data:") else urls)


# ---- what the data means ---------------------------------------------------------------------
CELLS_OFF = {f"cell{n}": "false" for n in range(1, 10)}


@pytest.mark.parametrize(("verb", "data", "text"), [
    ("zoom", {"factor": "1.5", "index": 1}, "/zoom 1 1.5"),
    ("zoom", {"factor": "2", "canvas_picture": "3"}, "/zoom 3 2"),
    ("pan", {"direction": "left", "index": 1}, "/pan 1 left"),
    ("pan", {"direction": "down", "canvas_picture": "2"}, "/pan 2 down"),
    ("upscale", {"scale": "2x", "mode": "subtle", "index": 1}, "/upscale 1 2x subtle"),
    ("upscale", {"scale": "4x", "mode": "creative", "canvas_picture": "4"},
     "/upscale 4 4x creative"),
    ("region", {**CELLS_OFF, "cell1": "true", "cell5": "true", "index": 1,
                "region_instruction": " a red\n kite "},
     "/edit 1 region=0,0,0.666667,0.666667 a red kite"),
    ("region", {**CELLS_OFF, "cell6": "true", "cell9": "true", "region_picture": "2",
                "region_instruction": "fog"}, "/edit 2 region=0.666667,0.333333,1,1 fog"),
])
def test_canvas_data_becomes_the_command(verb: str, data: dict[str, Any], text: str):
    assert canvas_command(verb, data) == text


@pytest.mark.parametrize(("verb", "data"), [
    ("zoom", {"factor": "3"}), ("zoom", {"factor": 2}), ("pan", {"direction": "sideways"}),
    ("upscale", {"scale": "8x"}), ("upscale", {"scale": "2x", "mode": "wild"}),
    ("zoom", {"factor": "2", "index": "²"}), ("zoom", {"factor": "2", "index": 0}),
    ("zoom", {"factor": "2", "canvas_picture": ["1"]}), ("pan", {"direction": "up", "index": True}),
    ("region", {**CELLS_OFF, "region_instruction": "fog"}),  # no square ticked
    ("region", {**CELLS_OFF, "cell1": "true", "region_instruction": "   "}),
    ("region", {"cell1": "yes", "region_instruction": "fog"}),
])
def test_junk_canvas_data_is_no_command(verb: str, data: dict[str, Any]):
    assert canvas_command(verb, data) is None


# ---- end to end: real activities, the app, the fake Bot Connector ---------------------------
async def test_canvas_presses_become_turns(app_factory, settings_factory, connector,
                                           activity_factory, monkeypatch):
    from bot.app.server import TEAMS_BOT

    running = await app_factory(settings_factory())
    assistant = running.app[TEAMS_BOT].assistant
    seen: list[Turn] = []
    respond = assistant.respond

    async def recording(turn: Turn) -> Any:
        seen.append(turn)
        return await respond(turn)

    monkeypatch.setattr(assistant, "respond", recording)
    await _post(running.url, activity_factory("/imagine a paper boat on a pond"))
    result = await connector.wait_for(is_result)
    root = card(result)
    check_adaptive_card_15(root)
    assert len(card_images(result)) == 1  # the inline picture is not repeated
    titles = _by_title(root)
    generation = titles["Variations"]["data"]["generation_id"]

    async def invoke(action: dict[str, Any], **inputs: Any) -> dict[str, Any]:
        act = activity_factory("", name="adaptiveCard/action", value={"action": {
            "type": "Action.Execute", "verb": action["verb"],
            "data": {**action["data"], **inputs}}, "trigger": "manual"})
        act["type"] = "invoke"
        status, body = await _post(running.url, act)
        assert status == 200, body
        return body

    side = decode(card_images(result)[0]).width
    results = 1

    async def delivered() -> tuple[int, int]:
        """The size of the picture on the next result card."""
        nonlocal results
        results += 1
        return decode(card_images(await next_image(connector, results - 1))[0]).size

    for title, text, size in [("Zoom out 2×", "/zoom 1 2", (side, side)),
                              ("⬅️ Left", "/pan 1 left", (side * 3 // 2, side)),
                              ("Upscale 2×", "/upscale 1 2x subtle", (2 * side, 2 * side))]:
        assert (await invoke(titles[title]))["statusCode"] == 200
        assert (seen[-1].text, seen[-1].reference) == (text, generation)
        assert await delivered() == size

    # The region card: its toggles and instruction arrive merged into the action's data.
    redraw = titles["Redraw region"]
    body = await invoke(redraw, **{**CELLS_OFF, "cell3": "true", "cell6": "true"},
                        region_instruction="a red kite")
    assert body["statusCode"] == 200
    assert seen[-1].text == "/edit 1 region=0.666667,0,1,0.666667 a red kite"
    assert seen[-1].reference == generation
    assert await delivered() == (side, side)
    # The same from a client without Universal Actions: a message-back submit.
    await _post(running.url, activity_factory("", value={
        **redraw["fallback"]["data"], **CELLS_OFF, "cell7": "true",
        "region_instruction": "grass"}))
    assert seen[-1].text == "/edit 1 region=0,0.666667,0.333333,1 grass"

    # Junk is answered politely and makes no turn.
    turns = len(seen)
    body = await invoke(redraw, **CELLS_OFF, region_instruction="a red kite")
    assert body["statusCode"] == 400 and "squares" in body["value"]["message"]
    body = await invoke({"verb": "zoom", "data": {"easel": "zoom", "factor": "9"}})
    assert body["statusCode"] == 400
    await _post(running.url, activity_factory("", value={
        "easel": "region", "generation_id": generation, "cell1": "true"}))
    await connector.wait_for(lambda a: "tick a square" in (a.get("text") or ""))
    assert len(seen) == turns
    await running.settled()
