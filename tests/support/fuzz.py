"""Hostile request bodies for the channel fuzz tests (tests/bot/test_route_fuzz.py).

A body is raw bytes, not a dict, so that shapes JSON encoders refuse to write (5,000-digit
numbers, 100,000-deep nesting, invalid UTF-8, lone surrogates) reach the server as an
attacker would send them. `mutations` takes a well-formed body and yields it with each
field, at every depth, deleted or replaced by each hostile value in turn.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

_MARK = "\x00easel-fuzz\x00"  # where a raw fragment is spliced into the encoded body

# (name, a JSON fragment): every type where another is expected, numbers no parser or
# int() can hold, control characters, and strings far over any limit.
HOSTILE: list[tuple[str, str]] = [
    ("null", "null"),
    ("true", "true"),
    ("zero", "0"),
    ("negative", "-1"),
    ("float", "1.5"),
    ("digits-5000", "1" * 5000),
    ("float-overflow", "1e999999"),
    ("empty-string", '""'),
    ("nul", '"a\\u0000b"'),
    ("controls", '"\\u0001\\u001b[31m\\u007f\\u2028x\\r"'),
    ("lone-surrogate", '"\\ud800x"'),
    ("digit-string-5000", '"' + "9" * 5000 + '"'),
    ("superscript-digit", '"\\u00b2"'),
    ("markup", '"<at>' + "<at" * 2000 + '"'),
    ("long-string", json.dumps("x" * 100_000)),
    ("list", '[1, "a", null, {}]'),
    ("empty-list", "[]"),
    ("object", '{"a": {"b": [null]}}'),
    ("empty-object", "{}"),
    ("deep-list", "[" * 3000 + "]" * 3000),
]

# Whole bodies that are not a well-formed object at all.
RAW_BODIES: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("not-json", b"{not json"),
    ("nul-bytes", b"\x00\x00\x00"),
    ("invalid-utf8", b'{"text": "\xff\xfe\xc3\x28"}'),
    ("utf16-bom", '{"text": "hi"}'.encode("utf-16")),
    ("list", b"[1, 2]"),
    ("string", b'"hi"'),
    ("number", b"1" * 5000),
    ("null", b"null"),
    ("deep-list-100000", b"[" * 100_000 + b"]" * 100_000),
    ("deep-object-100000", b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
    ("truncated", b'{"text": "hi'),
]


def encode(body: Any, fragment: str | None = None) -> bytes:
    """`body` as JSON, with `fragment` spliced in raw where the body holds `MARK`."""
    text = json.dumps(body)
    if fragment is not None:
        text = text.replace(json.dumps(_MARK), fragment)
    return text.encode("utf-8", "surrogatepass")


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


def _with(body: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> Any:
    copy = json.loads(json.dumps(body))
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return copy


def mutations(body: dict[str, Any], *, skip: tuple[str, ...] = ()
              ) -> Iterator[tuple[str, bytes]]:
    """(a name for the case, the body) for every field of `body` deleted or replaced by
    every hostile value. `skip`: top-level keys left alone (say, the address the bot
    answers to, which must stay on loopback)."""
    for path in _paths(body):
        if path[0] in skip:
            continue
        where = ".".join(str(p) for p in path)
        if isinstance(path[-1], str):
            yield f"{where}:deleted", encode(_with(body, path, None, delete=True))
        for name, fragment in HOSTILE:
            yield f"{where}:{name}", encode(_with(body, path, _MARK), fragment)
