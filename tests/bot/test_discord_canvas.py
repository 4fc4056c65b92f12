"""Issue 26 on Discord: U1–U4 (upscale), Zoom out 1.5× / 2×, the pan arrows and Vary
(Region) under every result, the private steps behind them (which image, the 3×3 grid
menu, the instruction modal), and the exact command text each one ends in."""

from __future__ import annotations

from typing import Any

import pytest

from bot.channels.discord_canvas import canvas_answer
from bot.channels.discord_render import buttons
from bot.channels.discord_wire import CommandText, WireError
from bot.turn import Turn
from imaging.canvas import GRID_CELLS
from tests.bot.test_discord_channel import (  # noqa: F401 (fixtures used by name)
    SIDE,
    DiscordApp,
    _attached_images,
    _custom_ids,
    discord_app,
    fake_discord,
    signing_key,
)

GEN = "AbCd-EfGh_Ij"  # the shape of a generation id (secrets.token_urlsafe(9))
ONE = {"attachments": [{"id": "1"}], "flags": 0}  # the public result message, one image
FOUR = {"attachments": [{"id": str(i)} for i in range(4)], "flags": 0}
ARROWS = ["⬅️", "➡️", "⬆️", "⬇️"]


def _press(custom_id: str, message: dict[str, Any] = ONE, **data: Any) -> Any:
    return canvas_answer(3, {"component_type": 2, "custom_id": custom_id, **data}, message)


def _submit(custom_id: str, instruction: str) -> Any:
    return canvas_answer(5, {"custom_id": custom_id, "components": [{"type": 1, "components": [
        {"type": 4, "custom_id": "instruction", "value": instruction}]}]}, {})


# ---- the buttons under a result ----------------------------------------------------------
@pytest.mark.parametrize("images", [1, 2, 4, 5, 10])
def test_every_result_gets_the_canvas_buttons_within_discords_limits(images: int):
    rows = buttons(GEN, images)
    assert 1 <= len(rows) <= 5 and all(r["type"] == 1 for r in rows)
    assert all(1 <= len(r["components"]) <= 5 for r in rows)
    items = [b for r in rows for b in r["components"]]
    ids = [b["custom_id"] for b in items]
    assert len(set(ids)) == len(ids) and all(len(i) <= 100 for i in ids)
    assert all(b["type"] == 2 and (b.get("label") or b.get("emoji")) for b in items)
    assert all(len(b.get("label", "")) <= 80 for b in items)
    shown = min(images, 5)
    labels = [b.get("label") for b in items]
    assert labels[:shown] == [f"U{i}" for i in range(1, shown + 1)]
    assert labels[shown:2 * shown] == [f"V{i}" for i in range(1, shown + 1)]
    assert labels[2 * shown:] == ["Retry", "Edit", "Vary (Region)", "Undo", "Zoom out 1.5×",
                                  "Zoom out 2×", None, None, None, None]
    assert [b["emoji"]["name"] for b in rows[-1]["components"]] == ARROWS
    # Under several images zoom, pan and region ask which image (index 0) when pressed.
    zoom = next(i for i in ids if i.startswith("easel:z:"))
    assert zoom == f"easel:z:{GEN}:{1 if images == 1 else 0}:1.5"


def test_no_buttons_without_a_generation_that_fits():
    assert buttons(None, 1) == [] and buttons("g" * 90, 1) == []


# ---- pressing them: the command text -------------------------------------------------------
@pytest.mark.parametrize(("custom_id", "text"), [
    (f"easel:x:{GEN}:1", "/upscale 1 2x subtle"),
    (f"easel:x:{GEN}:3", "/upscale 3 2x subtle"),
    (f"easel:z:{GEN}:1:1.5", "/zoom 1 1.5"),
    (f"easel:z:{GEN}:1:2", "/zoom 1 2"),
    (f"easel:z:{GEN}:0:2", "/zoom 1 2"),  # index 0 under one image: that image
    (f"easel:p:{GEN}:1:l", "/pan 1 left"),
    (f"easel:p:{GEN}:2:r", "/pan 2 right"),
    (f"easel:p:{GEN}:1:u", "/pan 1 up"),
    (f"easel:p:{GEN}:4:d", "/pan 4 down"),
])
def test_buttons_become_the_canvas_commands(custom_id: str, text: str):
    assert _press(custom_id) == CommandText(text, private=False, reference=GEN)


def test_other_ids_are_left_to_the_older_buttons():
    for cid in (f"easel:v:{GEN}:1", f"easel:m:{GEN}", f"easel:u:{GEN}", f"other:z:{GEN}:1:2"):
        assert _press(cid) is None
    assert canvas_answer(2, {"name": "imagine"}, {}) is None


def test_under_several_images_a_press_asks_which_image_first():
    ask = _press(f"easel:z:{GEN}:0:2", FOUR)
    assert ask["type"] == 4 and ask["data"]["flags"] == 64  # private
    assert "Zoom out 2×" in ask["data"]["content"]
    choices = [b for r in ask["data"]["components"] for b in r["components"]]
    assert [b["label"] for b in choices] == ["Image 1", "Image 2", "Image 3", "Image 4"]
    private = {**ONE, "flags": 64, "attachments": []}
    assert [_press(b["custom_id"], private).text for b in choices] == [
        f"/zoom {i} 2" for i in range(1, 5)]
    ask = _press(f"easel:p:{GEN}:0:u", FOUR)
    assert _press(ask["data"]["components"][0]["components"][2]["custom_id"]).text == "/pan 3 up"
    # Vary (Region) from the private question replaces it with the grid menu.
    ask = _press(f"easel:g:{GEN}:0", FOUR)
    menu = _press(ask["data"]["components"][0]["components"][1]["custom_id"], private)
    assert menu["type"] == 7 and "image 2" in menu["data"]["content"]


def test_vary_region_menu_then_modal_then_the_edit_command():
    menu = _press(f"easel:g:{GEN}:1")
    assert menu["type"] == 4 and menu["data"]["flags"] == 64
    [row] = menu["data"]["components"]
    [select] = row["components"]
    assert (select["type"], select["min_values"], select["max_values"]) == (3, 1, 9)
    assert select["custom_id"] == f"easel:s:{GEN}:1"
    assert [o["label"] for o in select["options"]] == [c.name for c in GRID_CELLS.values()]
    assert [o["value"] for o in select["options"]] == [str(n) for n in range(1, 10)]

    modal = _press(select["custom_id"], {**ONE, "flags": 64}, component_type=3,
                   values=["5", "1", "2"])
    assert modal["type"] == 9
    data = modal["data"]
    assert data["custom_id"] == f"easel:y:{GEN}:1:125" and len(data["title"]) <= 45
    [field] = data["components"][0]["components"]
    assert field["type"] == 4 and field["custom_id"] == "instruction" and field["required"]
    assert len(field["label"]) <= 45 and len(field["placeholder"]) <= 100

    got = _submit(data["custom_id"], "  a red\nkite ")
    assert got == CommandText("/edit 1 region=0,0,0.666667,0.666667 a red kite",
                              private=False, reference=GEN)


@pytest.mark.parametrize(("cells", "region"), [
    (["9"], "0.666667,0.666667,1,1"),
    (["1", "9"], "0,0,1,1"),
    (["3", "7"], "0,0,1,1"),
    (["4", "5", "6"], "0,0.333333,1,0.666667"),
    (["2"], "0.333333,0,0.666667,0.333333"),
    ([str(n) for n in range(1, 10)], "0,0,1,1"),
])
def test_the_region_is_the_box_around_the_picked_cells(cells: list[str], region: str):
    modal = _press(f"easel:s:{GEN}:2", component_type=3, values=cells)
    assert len(modal["data"]["custom_id"]) <= 100
    assert _submit(modal["data"]["custom_id"], "fog").text == f"/edit 2 region={region} fog"


@pytest.mark.parametrize(("kind", "data"), [
    (3, {"custom_id": f"easel:z:{GEN}:1:3"}),  # no such zoom
    (3, {"custom_id": f"easel:p:{GEN}:1:x"}),
    (3, {"custom_id": f"easel:x:{GEN}:0"}),  # upscale always names its image
    (3, {"custom_id": f"easel:x:{GEN}"}),
    (3, {"custom_id": "easel:x::1"}),
    (3, {"custom_id": f"easel:x:{GEN}:²"}),
    (3, {"custom_id": f"easel:x:{GEN}:" + "9" * 60}),
    (3, {"custom_id": f"easel:s:{GEN}:1", "values": []}),
    (3, {"custom_id": f"easel:s:{GEN}:1", "values": ["0"]}),
    (3, {"custom_id": f"easel:s:{GEN}:1", "values": ["1", "1"]}),
    (3, {"custom_id": f"easel:s:{GEN}:1", "values": "15"}),
    (3, {"custom_id": f"easel:s:{GEN}:1", "values": [1, 5]}),
    (3, {"custom_id": f"easel:s:{GEN}:1", "values": ["10"]}),
    (3, {"custom_id": f"easel:s:{GEN}:1"}),
    (3, {"custom_id": f"easel:y:{GEN}:1:12"}),  # the modal's id, pressed as a button
    (5, {"custom_id": f"easel:y:{GEN}:1:1x", "components": []}),
    (5, {"custom_id": f"easel:y:{GEN}:1:", "components": []}),
    (5, {"custom_id": f"easel:y:{GEN}:1:12", "components": []}),  # no instruction
    (5, {"custom_id": f"easel:z:{GEN}:1:2"}),  # a button's id in a modal submit
])
def test_malformed_canvas_data_is_refused(kind: int, data: dict[str, Any]):
    with pytest.raises(WireError):
        canvas_answer(kind, data, ONE)


# ---- end to end: signed interactions, the real app, the fake Discord API ------------------
async def test_canvas_buttons_end_to_end(discord_app: DiscordApp, monkeypatch):  # noqa: F811
    d = discord_app
    seen: list[Turn] = []
    respond = d.services.assistant.respond

    async def recording(turn: Turn) -> Any:
        seen.append(turn)
        return await respond(turn)

    monkeypatch.setattr(d.services.assistant, "respond", recording)
    ix = d.command("imagine", prompt="a lighthouse at dusk")
    await d.post(ix)
    await d.fake.wait_for(lambda c: c.token == ix["token"] and bool(c.files))
    message = d.fake.originals[ix["token"]]
    ids = _custom_ids(message)
    generation = ids[0].split(":")[2]

    tokens: list[str] = []

    async def press(custom_id: str, kind: int = 3, on: dict[str, Any] = message,
                    **data: Any) -> dict[str, Any]:
        ix = d.interaction(kind, {"custom_id": custom_id, **data}, message=on)
        tokens.append(ix["token"])
        status, answer = await d.post(ix)
        assert status == 200, answer
        return answer

    async def delivered() -> tuple[int, int]:
        """The size of the picture the last press's new message carries."""
        token = tokens[-1]
        call = await d.fake.wait_for(lambda c: c.token == token and bool(c.files))
        [image] = _attached_images(call)
        return image.size

    # U1 V1 | Retry Edit Vary (Region) Undo | Zoom out 1.5× 2× | ⬅️ ➡️ ⬆️ ⬇️
    for cid, text, size in [(ids[0], "/upscale 1 2x subtle", (2 * SIDE, 2 * SIDE)),
                            (ids[7], "/zoom 1 2", (SIDE, SIDE)),
                            (ids[8], "/pan 1 left", (SIDE * 3 // 2, SIDE)),
                            (ids[11], "/pan 1 down", (SIDE, SIDE * 3 // 2))]:
        assert await press(cid, component_type=2) == {"type": 5}  # a new public message
        assert (seen[-1].text, seen[-1].reference) == (text, generation)
        assert await delivered() == size

    # Vary (Region): the private grid menu, the modal, then the region edit.
    menu = await press(ids[4], component_type=2)
    assert menu["type"] == 4 and menu["data"]["flags"] == 64
    select = menu["data"]["components"][0]["components"][0]
    private = {**message, "flags": 64, "attachments": [], "components": menu["data"]["components"]}
    modal = await press(select["custom_id"], on=private, component_type=3, values=["1", "4"])
    assert modal["type"] == 9
    answer = await press(modal["data"]["custom_id"], kind=5, components=[
        {"type": 1, "components": [{"type": 4, "custom_id": "instruction",
                                    "value": "a red kite"}]}])
    assert answer == {"type": 5}
    assert seen[-1].text == "/edit 1 region=0,0,0.333333,0.666667 a red kite"
    assert seen[-1].reference == generation
    assert await delivered() == (SIDE, SIDE)
    assert len(seen) == 6  # /imagine, four presses, the modal: menu and modal took none

    # A stale picture and a malformed menu answer politely and privately, never a 500.
    stale = await press(f"easel:z:{'Z' * 12}:1:2", component_type=2)
    assert stale["type"] == 4 and stale["data"]["flags"] == 64, stale
    assert "history" in stale["data"]["content"]  # "…not in this conversation's history…"
    junk = await press(select["custom_id"], on=private, component_type=3, values=["0"])
    assert junk["type"] == 4 and junk["data"]["flags"] == 64
    assert "squares" in junk["data"]["content"]
    from tests.support.helpers import drain

    await drain(d.services.tasks, keep=frozenset(
        t for t in d.services.tasks.snapshot() if not t.get_name().startswith("discord-")))
