"""Request bodies as JSON, for every channel's route: anything else is a `ValueError`.

`json.loads` alone lets three hostile shapes through as 500s: a charset Python does not
know (LookupError), nesting deeper than the interpreter's stack (RecursionError), and
nesting that parses but then overflows the code that walks it (msrest's deserializer, a
modal's component walk). No real Teams activity, Discord interaction or web chat turn
nests more than about ten levels, so anything past `MAX_DEPTH` is refused outright.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32


def parse_json(body: bytes, charset: str | None = None) -> Any:
    """The JSON value of `body` (decoded as `charset`, default UTF-8). Raises
    `ValueError` with a short reason a 400 can carry."""
    encoding = charset or "utf-8"
    try:
        text = body.decode(encoding)
    except LookupError:
        raise ValueError(f"unknown charset {encoding[:40]!r}") from None
    except UnicodeDecodeError:
        raise ValueError("the body is not valid text") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    # ValueError (JSONDecodeError, and ints over Python's 4,300-digit limit) goes up as is.
    if _depth(value) > MAX_DEPTH:
        raise ValueError("the JSON is nested too deeply")
    return value


def _depth(value: Any) -> int:
    """How deep containers nest in `value`, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest
