"""Slash-command parsing, shared by every channel.

`/imagine [--n N] [--size WxH] [--seed S] [--raw] [--model NAME] prompt` (also without
the slash), `/help`, `/settings [name=value ...]`, `/vary [N]`,
`/edit [N] [region=x0,y0,x1,y1] <instruction>`, `/zoom [N] [1.5|2]`,
`/pan [N] left|right|up|down`, `/upscale [N] [2x|4x] [subtle|creative]`, `/undo`,
`/history`, `/forget`, `/cancel [job]`, `/queue`, `/models`, `/describe [N]` (or
"describe this"). Parsing never raises: bad
input becomes a `Command` with an `error` the assistant shows to the user. `image_options` and `parse_settings` check the values of
`/imagine` options and `/settings name=value` words against the deployment's limits and
raise `CommandError`, whose message is the reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.errors import EaselError
from imaging.sizes import parse_size

COMMANDS = ("imagine", "help", "settings", "vary", "edit", "undo", "history", "forget",
            "pick", "cancel", "queue", "models", "arena", "vote", "verify", "zoom", "pan",
            "upscale", "describe")
_SLASH_RE = re.compile(r"^/(\w[\w-]*)\b\s*(.*)$", re.S)
_BARE_RE = re.compile(r"^(imagine|help)\b[:,]?\s*(.*)$", re.S | re.I)
# "describe this", "describe the picture": /describe in words (the whole message).
_DESCRIBE_RE = re.compile(r"^(?:please\s+)?(?:can you\s+)?describe(?:\s+(?:this|it|that|my|the)"
                          r"(?:\s+(?:picture|image|photo|one))?)?\s*[.!?]?$", re.I)
_FLAG_RE = re.compile(r"^--(n|size|seed|raw|model)(?:=(\S+))?$")


@dataclass(slots=True)
class Command:
    name: str  # "imagine", "help", "unknown" or "chat" (plain words)
    text: str = ""  # the prompt or the remaining words
    options: dict[str, str] = field(default_factory=dict)
    raw: bool = False
    error: str | None = None


def parse(text: str) -> Command:
    text = text.strip()
    m = _SLASH_RE.match(text)
    if m:
        name, rest = m.group(1).lower(), m.group(2)
        if name not in COMMANDS:
            return Command("unknown", text=name)
    elif _DESCRIBE_RE.match(text):
        return Command("describe")
    else:
        m = _BARE_RE.match(text)
        if not m:
            return Command("chat", text=text)
        name, rest = m.group(1).lower(), m.group(2)
    if name in ("help", "settings", "undo", "history", "forget", "cancel", "queue", "models",
                "arena", "vote", "verify"):
        return Command(name, text=rest.strip())
    if name in ("vary", "edit", "pick", "describe"):
        return _parse_indexed(name, rest)
    if name in ("zoom", "pan", "upscale"):
        return _parse_canvas(name, rest)
    return _parse_imagine(rest)


def _parse_indexed(name: str, rest: str) -> Command:
    """`/vary [N]`, `/edit [N] <instruction>` (N may also be written #N)."""
    m = re.match(r"^#?([0-9]+)\b\s*(.*)$", rest.strip(), re.S)
    cmd = Command(name, text=rest.strip())
    if m:
        index = whole(m.group(1), 3)
        if index is None or not 1 <= index <= 9:
            cmd.error = f"there is no image {_shown(m.group(1))}; results have 1 to 4 images"
        else:
            cmd.options["index"] = str(index)
        cmd.text = m.group(2).strip()
    if name == "edit" and (r := _REGION_RE.match(cmd.text)):
        cmd.options["region"] = r.group(1) or r.group(2)
        cmd.text = cmd.text[r.end():].strip()
    return cmd


# `region=0.1,0.2,0.5,0.6` (spaces after the commas and brackets allowed); anything else
# after `region=` is taken up to the next space and refused with the region's own help.
_REGION_RE = re.compile(r"^region\s*=\s*(?:[\[(]?\s*([-+0-9.eE]+(?:\s*,\s*[-+0-9.eE]+){3})"
                        r"\s*[\])]?|(\S*))(?=\s|$)", re.I)
_DIRECTIONS = {"left": "left", "right": "right", "up": "up", "down": "down", "top": "up",
               "bottom": "down"}
_CANVAS_USAGE = {"zoom": "`/zoom [N] [1.5|2]`", "pan": "`/pan [N] left|right|up|down`",
                 "upscale": "`/upscale [N] [2x|4x] [subtle|creative]`"}


def _parse_canvas(name: str, rest: str) -> Command:
    """`/zoom [N] [1.5|2]`, `/pan [N] left|right|up|down`, `/upscale [N] [2x|4x]
    [subtle|creative]`. N may be written #N. A lone `/zoom 2` or `/zoom 1.5` is the factor
    (the Zoom out buttons send `/zoom N 2`); numbers without an x are image numbers for
    /upscale, whose factors are written 2x or 4x."""
    cmd = Command(name, text=rest.strip())
    numbers: list[str] = []
    for word in rest.lower().replace("×", "x").split():
        factor = re.fullmatch(r"x?([0-9.]+)x?", word)
        if name == "zoom" and word == "out":
            continue
        if word.startswith("#") or (factor and word == factor.group(1) and "." not in word):
            numbers.append(word)  # "#2" keeps its mark: it is never a factor
        elif factor and name != "pan" and (name == "zoom" or word != factor.group(1)):
            cmd.options["factor"] = factor.group(1)  # 1.5, 2x, x4: upscale's need the x
        elif name == "pan" and word in _DIRECTIONS:
            cmd.options["direction"] = _DIRECTIONS[word]
        elif name == "upscale" and word in ("subtle", "creative"):
            cmd.options["mode"] = word
        else:
            cmd.error = f"I didn't understand “{_shown(word)}”; try {_CANVAS_USAGE[name]}"
            return cmd
    if name == "zoom" and "factor" not in cmd.options and numbers and not \
            numbers[-1].startswith("#") and (len(numbers) == 2 or numbers == ["2"]):
        cmd.options["factor"] = numbers.pop()  # `/zoom 2`: the factor, on the picked picture
    if len(numbers) > 1:
        cmd.error = f"which picture? Give one number; try {_CANVAS_USAGE[name]}"
    elif numbers:
        numbers[0] = numbers[0].lstrip("#")
        index = whole(numbers[0], 3)
        if index is None or not 1 <= index <= 9:
            cmd.error = f"there is no image {_shown(numbers[0])}; results have 1 to 4 images"
        else:
            cmd.options["index"] = str(index)
    factors = {"zoom": ("1.5", "2"), "upscale": ("2", "4")}.get(name, ())
    if "factor" in cmd.options and cmd.options["factor"].rstrip("0").rstrip(".") not in factors:
        doing = "zooming out" if name == "zoom" else "upscaling"
        cmd.error = f"{doing} works by {'x or '.join(factors)}x; try {_CANVAS_USAGE[name]}"
    if name == "pan" and "direction" not in cmd.options and cmd.error is None:
        cmd.error = f"which way? Try {_CANVAS_USAGE['pan']}"
    return cmd


MAX_SEED = 2**63 - 1


def whole(value: str, max_digits: int) -> int | None:
    """`value` as a whole number when it is 1 to `max_digits` ASCII digits; else None.
    (str.isdigit() takes "²" and "٣", and int() refuses 5,000 digits with a ValueError.)"""
    return int(value) if re.fullmatch(rf"[0-9]{{1,{max_digits}}}", value) else None


def _shown(value: str) -> str:
    """A user's value, quoted back without repeating all 5,000 characters of it."""
    return value if len(value) <= 24 else value[:24] + "…"


def _parse_imagine(rest: str) -> Command:
    words = rest.split()
    options: dict[str, str] = {}
    raw = False
    i = 0
    # Options come first ("/imagine --n 2 a cat"); the first non-option word starts the
    # prompt, so a prompt may itself contain "--" later on.
    while i < len(words):
        m = _FLAG_RE.match(words[i])
        if not m:
            break
        flag, value = m.group(1), m.group(2)
        if flag == "raw":
            raw = True
            i += 1
            continue
        if value is None:
            if i + 1 >= len(words):
                return Command("imagine", error=f"--{flag} needs a value")
            value = words[i + 1]
            i += 1
        options[flag] = value.lower() if flag == "model" else value
        i += 1
    prompt = " ".join(words[i:]).strip()
    cmd = Command("imagine", text=prompt, options=options, raw=raw)
    seed = whole(options.get("seed", "0"), 19)
    if "n" in options and whole(options["n"], 3) is None:
        cmd.error = f"--n must be a number, not {_shown(options['n'])!r}"
    elif seed is None or seed > MAX_SEED:
        cmd.error = f"--seed must be a whole number from 0 to {MAX_SEED}, not " \
                    f"{_shown(options['seed'])!r}"
    return cmd


class CommandError(EaselError, ValueError):
    """A command's value is out of range or malformed; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class CommandLimits:
    max_images: int = 4
    max_side: int = 1536
    max_steps: int = 50
    engines: tuple[str, ...] = ()  # the named engines, when the deployment has several


def image_options(options: dict[str, str], limits: CommandLimits) -> dict[str, Any]:
    """`/imagine` options as generate_image arguments (`n`, `size`, `seed`); `--model`
    is checked here and read by the caller (it picks the engine, not an argument)."""
    out: dict[str, Any] = {}
    if "model" in options:
        _engine_name(options["model"], limits, "--model")
    if "n" in options:
        n = whole(options["n"], 3)
        if n is None or not 1 <= n <= limits.max_images:
            raise CommandError(f"--n must be between 1 and {limits.max_images}.")
        out["n"] = n
    if "size" in options:
        try:
            w, h = parse_size(options["size"], limits.max_side)
        except ValueError as exc:
            raise CommandError(f"--size: {exc}.") from exc
        out["size"] = f"{w}x{h}"
    if "seed" in options:
        seed = whole(options["seed"], 19)
        if seed is None or seed > MAX_SEED:
            raise CommandError(f"--seed must be a whole number from 0 to {MAX_SEED}.")
        out["seed"] = seed
    return out


_ON = ("on", "true", "yes", "1")
_OFF = ("off", "false", "no", "0")
SETTINGS_RESET: dict[str, Any] = {"raw": False, "n": None, "size": None, "steps": None,
                                  "model": None, "arena": False}


def parse_settings(text: str, limits: CommandLimits) -> dict[str, Any]:
    """`raw=on n=2 size=768x512 steps=8` (or `reset`) as the changes to make; an empty
    dict when there are no words (show the settings)."""
    changes: dict[str, Any] = {}
    for word in text.split():
        if word.lower() == "reset":
            changes = dict(SETTINGS_RESET)
            continue
        name, sep, value = word.partition("=")
        name, value = name.lower(), value.strip().lower()
        if not sep or not value:
            raise CommandError(f"`{word}`: settings look like `name=value`, "
                               "e.g. `/settings raw=on n=2 size=768x512`.")
        changes[name] = _setting(name, value, limits)
    return changes


def _setting(name: str, value: str, limits: CommandLimits) -> Any:
    if name in ("raw", "arena"):
        if value not in _ON + _OFF:
            raise CommandError(f"{name} must be on or off.")
        return value in _ON
    if name == "n":
        n = whole(value, 3)
        if n is None or not 1 <= n <= limits.max_images:
            raise CommandError(f"n must be a number from 1 to {limits.max_images}.")
        return n
    if name == "size":
        try:
            w, h = parse_size(value, limits.max_side)
        except ValueError as exc:
            raise CommandError(f"size: {exc}.") from exc
        return f"{w}x{h}"
    if name == "steps":
        steps = whole(value, 3)
        if steps is None or not 1 <= steps <= limits.max_steps:
            raise CommandError(f"steps must be a number from 1 to {limits.max_steps}.")
        return steps
    if name == "model":
        if value == "default":
            return None
        return _engine_name(value, limits, "model")
    raise CommandError(f"I don't know the setting `{name}`. Settings: raw, n, size, steps, "
                       "model, arena.")


def _engine_name(value: str, limits: CommandLimits, what: str) -> str:
    value = value.strip().lower()
    if not limits.engines:
        raise CommandError(f"{what}: this deployment has one image engine, so there is "
                           "nothing to choose.")
    if value not in limits.engines:
        raise CommandError(f"{what}: there is no engine called `{value}`. Engines: "
                           f"{', '.join(limits.engines)} (`/models` says what each is good at).")
    return value
