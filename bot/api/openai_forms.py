"""Request bodies of the OpenAI Images API, read within a size limit.

JSON (generations) and multipart/form-data (edits, variations: the pictures as files,
everything else as text fields, `image` or repeated `image[]`). The body is read as a
stream and counted as it comes: a declared or actual size over the limit is 413 before
more is read (aiohttp drains the rest, so the client still reads the answer), and a body
that is not well-formed is 400, never a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, ClientError, web
from aiohttp.http_exceptions import HttpProcessingError

from bot.api.openai_errors import bad_param, too_large

CHUNK = 256 * 1024
MAX_FIELD_BYTES = 256 * 1024  # a text field (a prompt is at most a few KB)
MAX_PARTS = 64


@dataclass(slots=True)
class Upload:
    field: str
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(slots=True)
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[Upload] = field(default_factory=list)

    def named(self, *names: str) -> list[Upload]:
        return [f for f in self.files if f.field in names]


def _declared_too_large(request: web.Request, limit: int) -> bool:
    return request.content_length is not None and request.content_length > limit


async def read_json(request: web.Request, limit: int) -> dict[str, Any]:
    if _declared_too_large(request, limit):
        raise too_large(limit)
    if request.content_type != "application/json":
        raise bad_param(None, "Send the request as JSON (Content-Type: application/json).",
                        "invalid_content_type")
    body = bytearray()
    while chunk := await request.content.read(CHUNK):
        body += chunk
        if len(body) > limit:
            raise too_large(limit)
    try:
        data = json.loads(bytes(body).decode(request.charset or "utf-8"))
    except (ValueError, LookupError) as exc:
        raise bad_param(None, f"The body is not valid JSON: {exc}", "invalid_json") from None
    if not isinstance(data, dict):
        raise bad_param(None, "The body must be a JSON object.", "invalid_json")
    return data


async def read_form(request: web.Request, limit: int) -> Form:
    """A multipart body: text fields by name (a repeated one keeps its last value) and
    the files in order."""
    if _declared_too_large(request, limit):
        raise too_large(limit)
    if request.content_type != "multipart/form-data":
        raise bad_param(None, "Send the pictures as multipart/form-data.", "invalid_content_type")
    form, total = Form(), 0
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or len(form.fields) + len(form.files) \
                    >= MAX_PARTS:
                raise bad_param(None, "The multipart body has nested or too many parts.",
                                "invalid_multipart")
            name = part.name or ""
            data = bytearray()
            while chunk := await part.read_chunk(CHUNK):
                data += chunk
                total += len(chunk)
                if total > limit:
                    raise too_large(limit)
                if part.filename is None and len(data) > MAX_FIELD_BYTES:
                    raise bad_param(name, f"The field {name!r} is too long.")
            if part.filename is None:
                form.fields[name] = bytes(data).decode(part.get_charset("utf-8"))
            else:
                form.files.append(Upload(name, part.filename,
                                         part.headers.get("Content-Type"), bytes(data)))
    except (ValueError, AssertionError, LookupError, RuntimeError, ClientError,
            HttpProcessingError) as exc:
        # aiohttp's parser says "malformed" in many ways (a missing boundary, a bad
        # header, a truncated part); each is the client's body, not our fault.
        raise bad_param(None, f"The multipart body is malformed ({type(exc).__name__}).",
                        "invalid_multipart") from None
    return form
