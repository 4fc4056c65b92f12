"""Discord interaction wire format: typed payloads, constants, and their translation into
easel's channel-neutral command text.

Only what easel reads or writes is typed here (discord.py's habit: payloads stay plain
dicts, described by TypedDicts). Everything that turns an interaction into the text the
Assistant understands ("/imagine --n 2 a fox", "/vary 2") lives here, so the HTTP handler
stays about transport and the mapping can be tested without a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NotRequired, TypedDict

from bot.errors import EaselError


class InteractionType(IntEnum):
    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    APPLICATION_COMMAND_AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class ResponseType(IntEnum):
    PONG = 1
    CHANNEL_MESSAGE_WITH_SOURCE = 4
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE_RESULT = 8
    MODAL = 9


class ComponentType(IntEnum):
    ACTION_ROW = 1
    BUTTON = 2
    STRING_SELECT = 3
    TEXT_INPUT = 4
    LABEL = 18  # newer modals wrap each input in a label


class ButtonStyle(IntEnum):
    PRIMARY = 1
    SECONDARY = 2
    SUCCESS = 3
    DANGER = 4


EPHEMERAL = 1 << 6  # message flag: only the invoking user sees the message
DEFAULT_ATTACHMENT_LIMIT = 10 * 1024 * 1024  # when the interaction does not say
CUSTOM_ID_MAX = 100
CONTENT_MAX = 2000


class User(TypedDict):
    id: str
    username: str
    global_name: NotRequired[str | None]


class Member(TypedDict):
    user: User
    nick: NotRequired[str | None]


class CommandOption(TypedDict):
    name: str
    type: int
    value: NotRequired[str | int | float | bool]
    options: NotRequired[list[CommandOption]]


class Interaction(TypedDict):
    id: str
    application_id: str
    type: int
    token: str
    version: int
    data: NotRequired[dict[str, Any]]
    guild_id: NotRequired[str]
    channel_id: NotRequired[str]
    channel: NotRequired[dict[str, Any]]
    member: NotRequired[Member]
    user: NotRequired[User]
    message: NotRequired[dict[str, Any]]
    attachment_size_limit: NotRequired[int]


class WireError(EaselError, ValueError):
    """The interaction is well-signed but not something easel can act on."""


# ---- who and where -----------------------------------------------------------------------
def interaction_user(ix: Interaction) -> User:
    """Guild interactions carry `member.user`, DMs carry `user`."""
    member = ix.get("member")
    user = member.get("user") if member else ix.get("user")
    if not user or not user.get("id"):
        raise WireError("interaction has no user")
    return user


def interaction_channel_id(ix: Interaction) -> str:
    channel_id = ix.get("channel_id") or (ix.get("channel") or {}).get("id")
    if not channel_id:
        raise WireError("interaction has no channel")
    return str(channel_id)


def display_name(user: User, member: Member | None) -> str:
    nick = member.get("nick") if member is not None else None
    return nick or user.get("global_name") or user["username"]


# ---- slash commands -> command text ----------------------------------------------------
@dataclass(frozen=True, slots=True)
class CommandText:
    text: str  # what the Assistant parses, e.g. "/imagine --n 2 a fox"
    private: bool  # the answer is only for the invoking user (help, settings)
    reference: str | None = None  # the generation a button or modal points at


def _options(data: dict[str, Any]) -> dict[str, Any]:
    return {o["name"]: o.get("value") for o in data.get("options") or [] if "name" in o}


def _flag(value: Any) -> str:
    return "on" if value else "off"


def command_text(data: dict[str, Any]) -> CommandText:
    """APPLICATION_COMMAND data -> the Assistant's text command."""
    name = str(data.get("name", "")).lower()
    opts = _options(data)
    if name == "imagine":
        prompt = " ".join(str(opts.get("prompt") or "").split())
        parts = ["/imagine"]
        if opts.get("raw"):
            parts.append("--raw")
        for key in ("n", "size", "seed", "model"):
            if opts.get(key) is not None:
                parts += [f"--{key}", "".join(str(opts[key]).split()) or "-"]
        return CommandText(" ".join([*parts, prompt]).strip(), private=False)
    if name == "edit":
        instruction = " ".join(str(opts.get("instruction") or "").split())
        region = "".join(str(opts.get("region") or "").split())
        if region:
            instruction = f"region={region} {instruction}"
        return CommandText(_edit_text(instruction, opts.get("image")), private=False)
    if name in ("zoom", "pan", "upscale"):
        # The picture's number always goes first, so "/zoom 1 2" is never read as image 2.
        words = [f"/{name}", str(opts.get("image") or 1)]
        words += [str(opts[k]) for k in ("factor", "direction", "scale", "mode")
                  if opts.get(k) is not None]
        return CommandText(" ".join("".join(w.split()) for w in words), private=False)
    if name in ("vary", "describe"):  # /describe: prompts for the last picture (or image N)
        image = opts.get("image")
        return CommandText(f"/{name} {image}" if image is not None else f"/{name}", False)
    if name == "undo":
        return CommandText("/undo", private=False)
    if name == "settings":
        words = ["reset"] if opts.get("reset") else []
        if opts.get("raw") is not None:
            words.append(f"raw={_flag(opts['raw'])}")
        for key in ("n", "size", "steps", "model"):
            if opts.get(key) is not None:
                words.append(f"{key}={''.join(str(opts[key]).split())}")
        if opts.get("arena") is not None:
            words.append(f"arena={_flag(opts['arena'])}")
        return CommandText(" ".join(["/settings", *words]), private=True)
    if name == "arena":
        prompt = " ".join(str(opts.get("prompt") or "").split())
        return CommandText(f"/arena {prompt}".strip(), private=prompt.lower() == "board")
    if name == "vote":
        # Private: the reveal is the voter's alone.
        return CommandText(f"/vote {opts.get('choice') or ''}".strip(), private=True)
    if name in ("help", "history", "forget", "queue", "cancel", "models"):
        return CommandText(f"/{name}", private=True)
    raise WireError(f"unknown command /{name}")


def _edit_text(instruction: str, image: Any) -> str:
    return f"/edit {image} {instruction}" if image is not None else f"/edit {instruction}"


# ---- buttons and modals --------------------------------------------------------------------
# custom_id grammar (≤ 100 characters, the prefix keeps other apps' ids apart):
#   easel:v:<generation>:<i>   variations of image i
#   easel:r:<generation>       re-roll: the same prompt with new seeds ("/vary")
#   easel:e:<generation>       open the edit modal
#   easel:u:<generation>       undo that generation
#   easel:m:<generation>       the edit modal itself (MODAL_SUBMIT)
#   easel:c:<job>              cancel that job (the button under a working message)
#   easel:a:<battle>:<choice>  a vote on an arena battle (a, b, tie, bad)
# and the canvas buttons' kinds x, z, p, g, s, y (bot/channels/discord_canvas.py).
PREFIX = "easel"
VOTE_CHOICES = ("a", "b", "tie", "bad")
MODAL_INSTRUCTION = "instruction"
MODAL_IMAGE = "image"


@dataclass(frozen=True, slots=True)
class ButtonAction:
    kind: str  # "v", "r", "e", "u", "m", "c" (the job id), "a" (the battle id)
    generation_id: str
    index: int | None = None
    choice: str | None = None  # "a": the vote


def custom_id(kind: str, generation_id: str, index: int | None = None) -> str | None:
    """None when the id would not fit Discord's limit (the button is then left out)."""
    value = f"{PREFIX}:{kind}:{generation_id}" + (f":{index}" if index is not None else "")
    return value if len(value) <= CUSTOM_ID_MAX else None


def parse_custom_id(value: str) -> ButtonAction:
    prefix, _, rest = value.partition(":")
    kind, _, generation_id = rest.partition(":")
    if prefix != PREFIX or kind not in ("v", "r", "e", "u", "m", "c", "a") or not generation_id:
        raise WireError(f"unknown component {value[:40]!r}")
    if kind == "v":
        generation_id, _, index = generation_id.rpartition(":")
        if not generation_id or not index.isdigit():
            raise WireError(f"malformed variation button {value[:40]!r}")
        return ButtonAction(kind, generation_id, int(index))
    if kind == "a":
        battle, _, choice = generation_id.rpartition(":")
        if not battle or choice not in VOTE_CHOICES:
            raise WireError(f"malformed vote button {value[:40]!r}")
        return ButtonAction(kind, battle, choice=choice)
    return ButtonAction(kind, generation_id)


def button_text(action: ButtonAction) -> CommandText:
    """A pressed button (other than Edit, which opens a modal) -> command text."""
    # "/vary" without an index is the Assistant's re-roll (same prompt, new seeds), the
    # same command the Teams card's Retry sends.
    if action.kind == "c":
        # Only the job's owner can cancel it; anyone else hears so, privately.
        return CommandText(f"/cancel {action.generation_id}", private=True)
    if action.kind == "a":
        # The reveal is the voter's alone: the others in the channel still vote blind.
        return CommandText(f"/vote {action.choice}", private=True,
                           reference=action.generation_id)
    texts = {"v": f"/vary {action.index}", "r": "/vary", "u": "/undo"}
    if action.kind not in texts:
        raise WireError(f"button {action.kind!r} has no command")
    return CommandText(texts[action.kind], private=False, reference=action.generation_id)


def modal_values(data: dict[str, Any]) -> dict[str, str]:
    """Text input values by custom_id, from action rows or (newer) label components."""
    values: dict[str, str] = {}

    def walk(components: list[dict[str, Any]]) -> None:
        for comp in components:
            if "custom_id" in comp and "value" in comp:
                values[str(comp["custom_id"])] = str(comp["value"])
            walk(comp.get("components") or [])
            if isinstance(comp.get("component"), dict):
                walk([comp["component"]])

    walk(data.get("components") or [])
    return values


def modal_text(action: ButtonAction, data: dict[str, Any]) -> CommandText:
    if action.kind != "m":
        raise WireError(f"{action.kind!r} is not a modal")
    values = modal_values(data)
    instruction = " ".join(values.get(MODAL_INSTRUCTION, "").split())
    if not instruction:
        raise WireError("the edit modal came back without an instruction")
    image = values.get(MODAL_IMAGE, "").strip()
    text = _edit_text(instruction, int(image) if image.isdigit() else None)
    return CommandText(text, private=False, reference=action.generation_id)


def edit_modal(generation_id: str, images: int) -> dict[str, Any] | None:
    """The MODAL response data for the Edit button; asks which image when there are
    several (the button itself stays one per message, like Midjourney's)."""
    modal_id = custom_id("m", generation_id)
    if modal_id is None:
        return None
    rows: list[dict[str, Any]] = [_text_input(
        MODAL_INSTRUCTION, "What should change?", style=2, min_length=1, max_length=500,
        placeholder="make it night, add a red hat, remove the trees")]
    if images > 1:
        rows.append(_text_input(MODAL_IMAGE, f"Which image (1–{images})?", style=1,
                                min_length=1, max_length=1, value="1", required=False))
    return {"custom_id": modal_id, "title": "Edit image", "components": rows}


def _text_input(cid: str, label: str, *, style: int, **extra: Any) -> dict[str, Any]:
    return {"type": ComponentType.ACTION_ROW, "components": [
        {"type": ComponentType.TEXT_INPUT, "custom_id": cid, "label": label, "style": style,
         "required": extra.pop("required", True), **extra}]}
