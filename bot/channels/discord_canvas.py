"""Discord's canvas buttons (U1–U4 upscale, Zoom out 1.5× / 2×, the pan arrows, Vary
(Region)) and the steps behind them, turned into the commands a user could type:
`/upscale N 2x subtle`, `/zoom N 1.5|2`, `/pan N left|right|up|down` and
`/edit N region=x0,y0,x1,y1 <instruction>`.

custom_id grammar (the prefix and the generation as in discord_wire; ≤ 100 characters):
  easel:x:<generation>:<i>           U<i>: upscale image i
  easel:z:<generation>:<i>:<1.5|2>   zoom out image i
  easel:p:<generation>:<i>:<l|r|u|d> pan image i
  easel:g:<generation>:<i>           Vary (Region): answers with the grid menu
  easel:s:<generation>:<i>           the grid menu (a string select of cells 1–9)
  easel:y:<generation>:<i>:<cells>   the instruction modal, cells as digits ("125")
Under a result with several images the zoom, pan and region buttons carry i = 0: one row
of buttons cannot name every image, so pressing one first asks which image, privately.
Every index and argument is always written out: "/zoom 2" alone would not say whether 2
is the image or the factor.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.channels.discord_wire import (
    CUSTOM_ID_MAX,
    EPHEMERAL,
    MODAL_INSTRUCTION,
    PREFIX,
    ButtonStyle,
    CommandText,
    ComponentType,
    InteractionType,
    ResponseType,
    WireError,
    modal_values,
)
from imaging.canvas import GRID_CELLS, grid_region

KINDS = frozenset("xzpgsy")
ZOOMS = ("1.5", "2")
PANS = {"l": ("left", "⬅️"), "r": ("right", "➡️"), "u": ("up", "⬆️"), "d": ("down", "⬇️")}
ASK = 0  # the image index of a button under several images: ask which one
# The nine cells as arrows, so the menu reads like the grid it stands for.
CELL_EMOJI = ("↖️", "⬆️", "↗️", "⬅️", "⏺️", "➡️", "↙️", "⬇️", "↘️")
_FIELDS = {"x": 1, "z": 2, "p": 2, "g": 1, "s": 1, "y": 2}  # fields after the generation


@dataclass(frozen=True, slots=True)
class CanvasAction:
    kind: str
    generation_id: str
    index: int  # 1-based; ASK (0): not chosen yet
    arg: str = ""  # the zoom factor, the pan direction or the cells

    def custom_id(self) -> str | None:
        """None when it would not fit Discord's limit (the button is then left out)."""
        tail = [str(self.index)] + ([self.arg] if _FIELDS[self.kind] == 2 else [])
        value = ":".join([PREFIX, self.kind, self.generation_id, *tail])
        return value if len(value) <= CUSTOM_ID_MAX else None


def parse_canvas_id(value: str) -> CanvasAction | None:
    """None for a custom_id that is not a canvas one; WireError for a malformed one."""
    prefix, _, rest = value.partition(":")
    kind, _, rest = rest.partition(":")
    if prefix != PREFIX or kind not in KINDS:
        return None
    generation_id, *tail = rest.rsplit(":", _FIELDS[kind])
    if not generation_id or len(tail) != _FIELDS[kind] or not tail[0].isascii() \
            or not tail[0].isdigit() or len(tail[0]) > 2:
        raise WireError(f"malformed canvas button {value[:40]!r}")
    action = CanvasAction(kind, generation_id, int(tail[0]), tail[1] if len(tail) > 1 else "")
    if (kind == "z" and action.arg not in ZOOMS) or (kind == "p" and action.arg not in PANS) \
            or (kind == "y" and not _cells(list(action.arg))) \
            or (action.index == ASK and kind not in "zpg"):
        raise WireError(f"malformed canvas button {value[:40]!r}")
    return action


def _cells(values: Any) -> frozenset[int]:
    """The picked cells of the grid menu; empty when any value is not a cell."""
    if not isinstance(values, list) or not 1 <= len(values) <= len(GRID_CELLS):
        return frozenset()
    cells = frozenset(int(v) for v in values
                      if isinstance(v, str) and v.isascii() and v.isdigit() and len(v) == 1)
    return cells if len(cells) == len(values) and cells <= GRID_CELLS.keys() else frozenset()


def canvas_answer(kind: int, data: dict[str, Any], message: dict[str, Any]
                  ) -> dict[str, Any] | CommandText | None:
    """A component or modal interaction of a canvas button: the interaction response of
    its next step (a menu, a modal), or the command it ends in; None when it is not one."""
    if kind not in (InteractionType.MESSAGE_COMPONENT, InteractionType.MODAL_SUBMIT):
        return None
    action = parse_canvas_id(str(data.get("custom_id", "")))
    if action is None:
        return None
    if kind == InteractionType.MODAL_SUBMIT or action.kind == "y":
        if kind != InteractionType.MODAL_SUBMIT or action.kind != "y":
            raise WireError("that canvas step is not a modal")
        return _region_text(action, data)
    if action.index == ASK:
        images = len(message.get("attachments") or [])
        if images > 1:
            return _which_image(action, min(images, 10))
        action = replace(action, index=1)
    # A step pressed on one of our private messages replaces it rather than adding another.
    flags = message.get("flags")
    update = isinstance(flags, int) and bool(flags & EPHEMERAL)
    i, ref = action.index, action.generation_id
    if action.kind == "x":
        return CommandText(f"/upscale {i} 2x subtle", private=False, reference=ref)
    if action.kind == "z":
        return CommandText(f"/zoom {i} {action.arg}", private=False, reference=ref)
    if action.kind == "p":
        return CommandText(f"/pan {i} {PANS[action.arg][0]}", private=False, reference=ref)
    if action.kind == "g":
        return _grid_menu(action, update=update)
    return _region_modal(action, _cells(data.get("values")))


def _private(content: str, components: list[dict[str, Any]], *, update: bool = False
             ) -> dict[str, Any]:
    kind = ResponseType.UPDATE_MESSAGE if update else ResponseType.CHANNEL_MESSAGE_WITH_SOURCE
    return {"type": kind, "data": {"content": content, "flags": EPHEMERAL,
                                   "allowed_mentions": {"parse": []},
                                   "components": components}}


def _which_image(action: CanvasAction, images: int) -> dict[str, Any]:
    choices = [{"type": ComponentType.BUTTON, "style": ButtonStyle.SECONDARY,
                "label": f"Image {i}", "custom_id": cid}
               for i in range(1, images + 1)
               if (cid := replace(action, index=i).custom_id()) is not None]
    rows = [{"type": ComponentType.ACTION_ROW, "components": choices[at:at + 5]}
            for at in range(0, len(choices), 5)]
    doing = {"z": f"Zoom out {action.arg}×", "p": f"Pan {PANS.get(action.arg, ('',))[0]}",
             "g": "Vary (Region)"}.get(action.kind, "That")
    return _private(f"{doing}: which image?", rows)


def _grid_menu(action: CanvasAction, *, update: bool) -> dict[str, Any]:
    cid = replace(action, kind="s").custom_id()
    if cid is None:
        raise WireError("that picture's id is too long for a menu")
    menu = {"type": ComponentType.STRING_SELECT, "custom_id": cid, "min_values": 1,
            "max_values": len(GRID_CELLS), "placeholder": "Pick one or more squares",
            "options": [{"label": cell.name, "value": str(n),
                         "emoji": {"name": CELL_EMOJI[n - 1]}}
                        for n, cell in GRID_CELLS.items()]}
    return _private(f"Vary (Region) on image {action.index}: pick the squares to redraw "
                    "(several make one box around them), then say what goes there.",
                    [{"type": ComponentType.ACTION_ROW, "components": [menu]}], update=update)


def _region_modal(action: CanvasAction, cells: frozenset[int]) -> dict[str, Any]:
    if not cells:
        raise WireError("pick one to nine squares of the grid")
    cid = replace(action, kind="y", arg="".join(str(c) for c in sorted(cells))).custom_id()
    if cid is None:
        raise WireError("that picture's id is too long for a form")
    where = ", ".join(GRID_CELLS[c].name for c in sorted(cells))
    field = {"type": ComponentType.TEXT_INPUT, "custom_id": MODAL_INSTRUCTION,
             "label": "What should be there instead?", "style": 2, "required": True,
             "min_length": 1, "max_length": 500,
             "placeholder": (f"in the {where}: a red kite, clear sky, …")[:100]}
    return {"type": ResponseType.MODAL, "data": {
        "custom_id": cid, "title": f"Vary (Region) · image {action.index}",
        "components": [{"type": ComponentType.ACTION_ROW, "components": [field]}]}}


def _region_text(action: CanvasAction, data: dict[str, Any]) -> CommandText:
    instruction = " ".join(modal_values(data).get(MODAL_INSTRUCTION, "").split())
    if not instruction:
        raise WireError("the region form came back without an instruction")
    region = grid_region(_cells(list(action.arg)))
    return CommandText(f"/edit {action.index} region={region} {instruction}", private=False,
                       reference=action.generation_id)
