"""Issue 7: the Teams app package, result cards and their actions, the compose extension,
welcome messages and invoke handling — end to end with real activity JSON."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from bot.app.cli import main as easel_main
from bot.app.manifest import MANIFEST_DIR
from tests.support.helpers import (
    card,
    card_actions,
    card_images,
    card_prompt,
    decode,
    is_result,
    next_image,
    walk,
)
from tests.support.helpers import post_activity as _post

SHARED = Path(__file__).resolve().parents[3] / "shared"
SCHEMA = SHARED / "schemas" / "teams" / "MicrosoftTeams.v1.19.schema.json"
APP_ID = "5f1e7d0c-1111-4222-8333-944455556666"

# Adaptive Cards 1.5 element and action types (Teams renders these).
ELEMENTS = {"AdaptiveCard", "TextBlock", "Image", "ImageSet", "Container", "ColumnSet", "Column",
            "FactSet", "ActionSet", "RichTextBlock", "TextRun", "Table", "TableRow", "TableCell",
            "Input.Text", "Input.Number", "Input.Date", "Input.Time", "Input.Toggle",
            "Input.ChoiceSet"}
ACTIONS = {"Action.OpenUrl", "Action.Submit", "Action.ShowCard", "Action.ToggleVisibility",
           "Action.Execute"}


def _validator():
    if not SCHEMA.is_file():
        pytest.skip(f"{SCHEMA} is missing (../shared is provided by CI)")
    from jsonschema import Draft7Validator

    return Draft7Validator(json.loads(SCHEMA.read_text()))


# ---- package ----------------------------------------------------------------------------
def test_manifest_and_built_package_validate(tmp_path):
    validator = _validator()
    template = json.loads((MANIFEST_DIR / "manifest.json").read_text())
    assert not list(validator.iter_errors(template))
    out = tmp_path / "easel.zip"
    assert easel_main(["manifest", "build", "--app-id", APP_ID, "--public-url",
                       "https://easel.contoso.com", "--out", str(out)]) == 0
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(zf.read("manifest.json"))
    errors = [e.message for e in validator.iter_errors(manifest)]
    assert errors == []
    assert manifest["id"] == APP_ID and manifest["bots"][0]["botId"] == APP_ID
    assert manifest["composeExtensions"][0]["botId"] == APP_ID
    assert manifest["validDomains"] == ["easel.contoso.com"]
    assert manifest["bots"][0]["scopes"] == ["personal", "team", "groupChat"]
    titles = [c["title"] for c in manifest["bots"][0]["commandLists"][0]["commands"]]
    assert titles == ["imagine", "edit", "vary", "undo", "settings", "queue", "cancel", "help"]
    cmd = manifest["composeExtensions"][0]["commands"][0]
    assert cmd["fetchTask"] is True and cmd["context"] == ["compose", "commandBox"]


@pytest.mark.parametrize("args,needle", [
    (["--app-id", "not-a-guid"], "GUID"),
    (["--app-id", APP_ID, "--public-url", "http://easel.contoso.com"], "https"),
    (["--app-id", "00000000-0000-0000-0000-000000000000"], "placeholder"),
])
def test_manifest_build_refuses_bad_input(args, needle, tmp_path, capsys):
    out = tmp_path / "x.zip"
    assert easel_main(["manifest", "build", *args, "--out", str(out)]) == 2
    assert needle in capsys.readouterr().err and not out.exists()


def test_icons():
    color = Image.open(MANIFEST_DIR / "color.png")
    outline = Image.open(MANIFEST_DIR / "outline.png").convert("RGBA")
    assert color.size == (192, 192) and outline.size == (32, 32)
    pixels = list(outline.getdata())
    assert any(a == 0 for *_, a in pixels)  # transparent background
    drawn = [(r, g, b) for r, g, b, a in pixels if a > 128]
    assert drawn and all(min(p) >= 240 for p in drawn)  # white strokes only


# ---- cards and their actions -----------------------------------------------------------------
def _invoke(activity_factory, name: str, value: dict, **extra) -> dict:
    act = activity_factory("", name=name, value=value, **extra)
    act["type"] = "invoke"
    return act


def _check_card_types(c: dict) -> None:
    assert c["version"] == "1.5"
    for node in walk(c):
        t = node.get("type")
        if isinstance(t, str) and (t[0].isupper()):
            assert t in ELEMENTS | ACTIONS, t


async def test_result_card_and_its_buttons(app_factory, settings_factory, connector,
                                           activity_factory):
    running = await app_factory(settings_factory())
    await _post(running.url, activity_factory("/imagine --n 2 a paper boat on a pond"))
    first = await next_image(connector, 0)
    c = card(first)
    _check_card_types(c)
    assert len(card_images(first)) == 2 and "paper boat" in card_prompt(first)
    titles = [a["title"] for a in card_actions(first) if a["type"] != "Action.Submit"]
    # Every Universal Action has a message-back fallback for older clients.
    assert all(a["fallback"]["type"] == "Action.Submit"
               for a in card_actions(first) if a["type"] == "Action.Execute")
    for t in ("Variations", "Edit", "Undo", "Apply edit", "Prompt used"):
        assert t in titles
    assert titles.count("Use this one") == 2
    prompt_box = next(n for n in walk(c) if n.get("id") == "prompt")
    assert prompt_box["isVisible"] is False  # collapsed
    vary = next(a for a in card_actions(first) if a["title"] == "Variations")
    gen_id = vary["data"]["generation_id"]

    # Variations, pressed as a Universal Action (adaptiveCard/action invoke).
    status, body = await _post(running.url, _invoke(activity_factory, "adaptiveCard/action", {
        "action": {"type": "Action.Execute", "verb": "vary", "data": vary["data"]},
        "trigger": "manual"}))
    assert status == 200 and body["statusCode"] == 200
    second = await next_image(connector, 1)
    assert len(card_images(second)) == 2 and card_prompt(second) == card_prompt(first)

    # "Use this one" on image 2 of the first result, then Edit with an instruction.
    status, body = await _post(running.url, _invoke(activity_factory, "adaptiveCard/action", {
        "action": {"type": "Action.Execute", "verb": "pick",
                   "data": {"easel": "pick", "generation_id": gen_id, "index": 2}}}))
    assert status == 200
    await connector.wait_for(lambda a: "Picked image 2" in (a.get("text") or ""))
    status, _ = await _post(running.url, _invoke(activity_factory, "adaptiveCard/action", {
        "action": {"type": "Action.Execute", "verb": "edit",
                   "data": {"easel": "edit", "generation_id": gen_id,
                            "instruction": "add a red flag"}}}))
    assert status == 200
    edited = await next_image(connector, 2)
    assert "flag" in card_prompt(edited) and "boat" in card_prompt(edited)

    # Undo, pressed on a client without Universal Actions (message-back submit).
    await _post(running.url, activity_factory("", value={"easel": "undo",
                                                         "generation_id": gen_id}))
    undone = await next_image(connector, 3)
    assert card_prompt(undone) == card_prompt(first)

    # An Edit press with an empty instruction is a polite error, not a 500.
    status, body = await _post(running.url, _invoke(activity_factory, "adaptiveCard/action", {
        "action": {"type": "Action.Execute", "verb": "edit", "data": {"easel": "edit"}}}))
    assert status == 200 and body["statusCode"] == 400


async def test_compose_extension_round_trip(app_factory, settings_factory, connector,
                                            activity_factory):
    running = await app_factory(settings_factory())
    bot = _teams_bot(running)
    bot.compose.wait_s = 60.0  # this CPU is shared; a GPU answers well within Teams' 5 s
    status, body = await _post(running.url, _invoke(
        activity_factory, "composeExtension/fetchTask",
        {"commandId": "createImage", "commandContext": "compose"}))
    assert status == 200 and body["task"]["type"] == "continue"
    form = body["task"]["value"]["card"]["content"]
    _check_card_types(form)
    assert {n.get("id") for n in walk(form)} >= {"prompt", "size", "count"}

    status, body = await _post(running.url, _invoke(
        activity_factory, "composeExtension/submitAction",
        {"commandId": "createImage", "commandContext": "compose",
         "data": {"easel": "create", "prompt": "a tiny robot", "size": "256x256", "count": 1}}))
    assert status == 200
    att = body["composeExtension"]["attachments"][0]
    _check_card_types(att["content"])
    urls = [n["url"] for n in walk(att["content"]) if n.get("type") == "Image"]
    assert decode(urls[0]).size == (256, 256)
    assert not [n for n in walk(att["content"]) if n.get("type") == "Action.Execute"]

    # A slow generation: the task module says "still working", then collects the image.
    bot.compose.wait_s = 0.0
    status, body = await _post(running.url, _invoke(
        activity_factory, "composeExtension/submitAction",
        {"commandId": "createImage", "data": {"easel": "create", "prompt": "a tiny robot"}}))
    waiting = body["task"]["value"]["card"]["content"]
    submit = next(n for n in walk(waiting) if n.get("type") == "Action.Submit")
    assert submit["data"]["easel"] == "collect"
    bot.compose.wait_s = 30.0
    status, body = await _post(running.url, _invoke(
        activity_factory, "composeExtension/submitAction",
        {"commandId": "createImage", "data": submit["data"]}))
    assert "composeExtension" in body

    status, body = await _post(running.url, _invoke(
        activity_factory, "composeExtension/submitAction",
        {"commandId": "createImage", "data": {"easel": "create", "prompt": "  "}}))
    assert "Describe the image" in json.dumps(body)


def _teams_bot(running):
    from bot.app.server import TEAMS_BOT

    return running.app[TEAMS_BOT]


async def test_welcome_unknown_invokes_and_mentions(app_factory, settings_factory, connector,
                                                    activity_factory):
    running = await app_factory(settings_factory())
    added = activity_factory("", membersAdded=[{"id": "28:easel-bot", "name": "easel"}])
    added["type"] = "conversationUpdate"
    status, _ = await _post(running.url, added)
    assert status in (200, 201)
    welcome = connector.messages()[-1]["text"]
    assert "draw" in welcome and "/help" in welcome

    n = len(connector.received)
    other = activity_factory("", membersAdded=[{"id": "29:someone", "name": "Ada"}])
    other["type"] = "conversationUpdate"
    await _post(running.url, other)
    await running.settled()  # the turn is answered and nothing it started is still running
    assert len(connector.received) == n  # only the bot's own arrival is greeted

    status, body = await _post(running.url, _invoke(activity_factory, "task/unknownThing", {}))
    assert 400 <= status < 500 and "unknownThing" in json.dumps(body)
    status, body = await _post(running.url, _invoke(activity_factory, "adaptiveCard/action",
                                                    {"action": "garbage"}))
    assert status == 200 and body["statusCode"] == 400

    act = activity_factory("<at>easel</at> help", entities=[{
        "type": "mention", "text": "<at>easel</at>",
        "mentioned": {"id": "28:easel-bot", "name": "easel"}}])
    await _post(running.url, act)
    assert "/imagine" in connector.messages()[-1]["text"]


async def test_working_card_shows_the_preview_and_cancel_stops_the_job(
        app_factory, settings_factory, connector, activity_factory):
    from tests.support.engines import Steered

    running = await app_factory(settings_factory())
    engine = Steered(running.services.runner.engine, hold_at=2)
    running.services.runner.engine = engine
    running.services.runner.preview_interval_s = 0  # a preview at every step from the second
    try:
        await _post(running.url, activity_factory("/imagine a slow red tower"))
        working_id = (await connector.wait_for(
            lambda a: a.get("type") == "message" and "tower" in (a.get("text") or "")))["_id"]

        def preview_card(a: dict) -> bool:
            return a.get("_updated") == working_id and any(
                str(n.get("url", "")).startswith("data:image/jpeg;base64,")
                for n in walk(card(a))) if a.get("attachments") else False

        shown = await connector.wait_for(preview_card)
        _check_card_types(card(shown))
        [cancel] = [a for a in card_actions(shown)
                    if a["title"] == "Cancel" and a["type"] == "Action.Execute"]
        assert cancel["fallback"]["data"] == cancel["data"]
        status, body = await _post(running.url, _invoke(activity_factory, "adaptiveCard/action", {
            "action": {"type": "Action.Execute", "verb": "cancel", "data": cancel["data"]}}))
        assert status == 200 and body["statusCode"] == 200
        await connector.wait_for(lambda a: (a.get("text") or "") == "Cancelled 1 job.")
    finally:
        engine.release.set()
    final = await connector.wait_for(lambda a: a.get("_updated") == working_id and "Cancelled"
                                     in json.dumps(a))
    await running.settled()
    # No picture was delivered: the only card with an image is the working card's preview.
    assert not [a for a in connector.received if is_result(a) and not preview_card(a)]
    assert connector.updated[-1] is final  # nothing overwrote the cancelled message


async def test_an_arena_battle_card_and_its_vote_buttons(app_factory, settings_factory,
                                                         connector, activity_factory):
    running = await app_factory(settings_factory())
    await _post(running.url, activity_factory("/arena a paper boat on a pond"))
    battle = await next_image(connector, 0)
    c = card(battle)
    _check_card_types(c)
    words = [n.get("text", "") for n in walk(c) if n.get("type") == "TextBlock"]
    assert len(card_images(battle)) == 2 and not any("demo" in w for w in words)
    votes = [a for a in card_actions(battle) if a["type"] == "Action.Execute"]
    assert [a["title"] for a in votes] == ["A is better", "B is better", "Tie", "Both bad"]
    status, body = await _post(running.url, _invoke(activity_factory, "adaptiveCard/action", {
        "action": {"type": "Action.Execute", "verb": "vote", "data": votes[1]["data"]}}))
    assert status == 200 and body["statusCode"] == 200
    thanks = await connector.wait_for(lambda a: "your vote counts" in (a.get("text") or ""))
    assert "B is better" in thanks["text"] and "was **demo" in thanks["text"]
