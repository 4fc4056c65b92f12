"""What the arena compares: entries read from the engines file's `[arena]` table.

    [arena]
    entries = ["demo", "demo@8", "demo:raw", "dalle"]

An entry is a named engine, optionally at another step count (`@8`) and optionally
without rewriting (`:raw`: the user's words go to the engine as written), so one model
can be compared with itself. Without an `[arena]` table every engine is an entry; a
deployment with one engine compares it with and without rewriting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.errors import EaselError
from imaging.engines.config import EnginesFileError

_ENTRY_RE = re.compile(r"^(?P<engine>[a-z0-9][a-z0-9._-]{0,31}?)(?:@(?P<steps>\d{1,3}))?"
                       r"(?P<raw>:raw)?$")
EVERY_NTH = 5  # with /settings arena=on, every 5th image request is a battle


class ArenaConfigError(EaselError, EnginesFileError):
    """The `[arena]` table names an engine that does not exist, or is malformed."""


@dataclass(frozen=True, slots=True)
class ArenaEntry:
    name: str  # as written in the file: what the board shows
    engine: str
    steps: int | None = None
    rewrite: bool = True


def parse_entries(table: dict[str, Any], engines: list[str]) -> list[ArenaEntry]:
    raw = table.get("entries")
    if raw is None:
        names = list(engines) if len(engines) > 1 else [engines[0], f"{engines[0]}:raw"]
    elif isinstance(raw, list) and all(isinstance(e, str) for e in raw):
        names = raw
    else:
        raise ArenaConfigError("[arena] entries: a list of entry names, e.g. "
                               "[\"demo\", \"demo@8\", \"demo:raw\"]")
    unknown = set(table) - {"entries"}
    if unknown:
        raise ArenaConfigError(f"[arena] {sorted(unknown)[0]}: not an option (only entries)")
    out: list[ArenaEntry] = []
    for name in names:
        m = _ENTRY_RE.match(name)
        if m is None:
            raise ArenaConfigError(f"[arena] entries: {name!r} is not ENGINE, ENGINE@STEPS "
                                   "or ENGINE:raw")
        if m["engine"] not in engines:
            raise ArenaConfigError(f"[arena] entries: {name!r} names no engine of the file "
                                   f"(engines: {', '.join(engines)})")
        steps = int(m["steps"]) if m["steps"] else None
        if steps is not None and not 1 <= steps <= 200:
            raise ArenaConfigError(f"[arena] entries: {name!r}: steps must be from 1 to 200")
        if any(e.name == name for e in out):
            raise ArenaConfigError(f"[arena] entries: {name!r} is listed twice")
        out.append(ArenaEntry(name, m["engine"], steps, rewrite=not m["raw"]))
    if len(out) < 2:
        raise ArenaConfigError("[arena] entries: list at least two entries to compare")
    return out
