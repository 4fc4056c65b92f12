"""What a Discord interaction must look like before easel reads it.

Discord's own payloads always pass. Anything else that arrives signed (a proxy's bug,
a test, a future payload shape) is refused with a 400 up front, instead of failing
half-way through the handler on a list where an object belongs, or carrying a guild id
that is a dictionary into the conversation records. Only the fields easel reads are
checked; the rest is Discord's business.
"""

from __future__ import annotations

import re
from typing import Any

_SNOWFLAKE = re.compile(r"[0-9]{1,20}")
_TOKEN = re.compile(r"[\x21-\x7e]{1,1000}")  # printable ASCII: it goes into a URL path
_OBJECTS = ("data", "channel", "member", "user", "message", "guild")


def interaction_problem(ix: dict[str, Any]) -> str | None:
    """Why `ix` is not an interaction easel can read; None when it is."""
    kind = ix.get("type")
    if not isinstance(kind, int) or isinstance(kind, bool):
        return "no interaction type"
    for key in _OBJECTS:
        if ix.get(key) is not None and not isinstance(ix[key], dict):
            return f"{key} is not an object"
    users = [ix.get("user"), (ix.get("member") or {}).get("user")]
    if any(u is not None and not isinstance(u, dict) for u in users):
        return "the user is not an object"
    ids = [ix.get("application_id"), ix.get("guild_id"), ix.get("channel_id"),
           (ix.get("channel") or {}).get("id"), *((u or {}).get("id") for u in users)]
    if any(v is not None and not (isinstance(v, str) and _SNOWFLAKE.fullmatch(v))
           for v in ids):
        return "an id is not a snowflake"
    names = [(u or {}).get(k) for u in users for k in ("username", "global_name")]
    names.append((ix.get("member") or {}).get("nick"))
    if any(v is not None and not isinstance(v, str) for v in names):
        return "a name is not a string"
    token = ix.get("token")
    if token is not None and not (isinstance(token, str) and _TOKEN.fullmatch(token)):
        return "the token is malformed"
    limit = ix.get("attachment_size_limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                              or limit <= 0):
        return "attachment_size_limit is not a positive integer"
    return _data_problem(ix.get("data") or {})


def _data_problem(data: dict[str, Any]) -> str | None:
    for key in ("name", "custom_id"):
        if data.get(key) is not None and not isinstance(data[key], str):
            return f"data.{key} is not a string"
    if not _all_objects(data.get("options"), "options"):
        return "data.options is not a list of objects"
    if not _all_objects(data.get("components"), "components", "component"):
        return "data.components is not a list of objects"
    return None


def _all_objects(items: Any, lists: str, single: str | None = None) -> bool:
    """`items` is absent or a list of objects, and so are their children: a list under
    `lists`, one object under `single` (newer modals wrap each input in a label)."""
    if items is None:
        return True
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return False
    for item in items:
        if not _all_objects(item.get(lists), lists, single):
            return False
        child = item.get(single) if single is not None else None
        if child is not None and not (isinstance(child, dict)
                                      and _all_objects([child], lists, single)):
            return False
    return True
