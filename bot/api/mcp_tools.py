"""easel's image tools as MCP tools: their list, one call, and its result.

The input schemas are the chat tools' own pydantic models (tools/image_args.py,
tools/canvas_args.py): `generate_image` and the canvas tools (`edit_region`, `zoom_out`,
`pan`, `upscale`) exactly as the brain is offered them; `edit_image` is the chat tool's
`EditImageArgs` widened for callers that hold no stored picture: a base64 `image` instead
of an `image_id`, and an optional `mask` (then it is a region edit). With several engines
every tool also takes `model`, one of their names (not `describe_image`: a stored id or a
base64 picture → four prompts as text, each past checkpoint 2).

A result is the picture(s) as MCP image content plus a text with the prompt used and
each image id (which `edit_image` and the canvas tools take back), and the same as
structured content. While the job waits and runs its events go out as progress
notifications; a cancelled request cancels its task, and with it the job (a job nobody
waits for is cancelled: imaging/jobs/handle.py).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Protocol, TypeVar

import mcp_types as types
from pydantic import BaseModel, Field, ValidationError, model_validator

from bot.api.tool_calls import ApiTools, Caller, Refused, UploadError
from bot.state.storage import OUTAGES
from imaging.engine import ContentRefused, GenerationError
from imaging.jobs import EventSink, JobCancelled, JobEvent, JobQueued, QuotaExceeded
from tools.base import ToolError, ToolResult, in_words
from tools.canvas_args import MAX_MASK_CHARS
from tools.describe import DESCRIBE_IMAGE_SPEC, DescribeImageArgs, allowed_prompts
from tools.image import EDIT_IMAGE_SPEC, EditImageArgs
from tools.keep import StorageGaveUp

EDIT = EDIT_IMAGE_SPEC.name
DESCRIBE = DESCRIBE_IMAGE_SPEC.name
REGION = "edit_region"
Progress = Any  # a coroutine function (progress, total, message): the session's reporter
STORAGE: tuple[type[Exception], ...] = (StorageGaveUp, *OUTAGES)  # a storage outage


# A picture easel made, or one sent along: exactly one (checked by `_one_picture`).
STORED_ID = Field(default=None, min_length=22, max_length=64,
                  description="A picture easel made (the image id its results give).")
SENT_PICTURE = Field(default=None, max_length=MAX_MASK_CHARS,
                     description="Or the picture itself: base64 PNG, JPEG or WebP "
                                 "(a data: URI works).")


class _Picked(Protocol):
    image_id: str | None
    image: str | None


_P = TypeVar("_P", bound=_Picked)


def _one_picture(args: _P) -> _P:
    if (args.image_id is None) == (args.image is None):
        raise ValueError("give either an image_id or an image")
    return args


class McpEditImageArgs(EditImageArgs):
    """`edit_image` for MCP callers: a stored picture or one sent along, and optionally a
    mask of the part to redraw."""

    image_id: str | None = STORED_ID  # type: ignore[assignment]
    image: str | None = SENT_PICTURE
    prompt: str = Field(min_length=1, max_length=1000,
                        description="What the picture should show after the edit.")
    mask: str | None = Field(
        default=None, max_length=MAX_MASK_CHARS,
        description="Optional base64 PNG the picture's size, white (or opaque) where to "
                    "redraw: only that part changes.")
    one_picture = model_validator(mode="after")(_one_picture)


class McpDescribeImageArgs(DescribeImageArgs):
    """`describe_image` for MCP callers: a stored picture or one sent along."""

    image_id: str | None = STORED_ID  # type: ignore[assignment]
    image: str | None = SENT_PICTURE
    one_picture = model_validator(mode="after")(_one_picture)


DESCRIBE_DESCRIPTION = ("Four prompts that would draw something like a picture (its subject, "
                        "colours and setting), for generate_image: a picture easel made (its "
                        "image_id) or one you send (base64).")
EDIT_DESCRIPTION = ("Edit a picture so it matches the prompt: a picture easel made (its "
                    "image_id) or one you send (base64). Without a mask the whole picture is "
                    "redrawn keeping its composition (strength: how far it may move); with a "
                    "mask only the white part is redrawn.")


def tool_list(api: ApiTools) -> list[types.Tool]:
    """Every image tool the deployment has, with its input schema."""
    out = []
    for spec in api.tools.specs():
        model, description = spec.args_model, spec.description
        if spec.name == EDIT:
            model, description = McpEditImageArgs, EDIT_DESCRIPTION
        if spec.name == DESCRIBE:  # no model picks a describer: no `model` for it
            schema = McpDescribeImageArgs.model_json_schema()
            out.append(types.Tool(name=DESCRIBE, description=DESCRIBE_DESCRIPTION,
                                  input_schema=schema))
            continue
        schema = model.model_json_schema()
        if len(api.engines) > 1:
            schema.setdefault("properties", {})["model"] = {
                "type": "string", "enum": api.engines.names(),
                "description": "Which image model draws it: " + "; ".join(
                    f"{e.name}: {e.summary()}" for e in api.engines)
                + f". Omit for {api.engines.default.name}."}
        out.append(types.Tool(name=spec.name, description=description, input_schema=schema))
    return out


async def call_tool(api: ApiTools, caller: Caller, name: str, arguments: dict[str, Any],
                    progress: Progress) -> types.CallToolResult:
    """One tools/call. Failures the caller can act on come back as an error result
    (`is_error`), in words; a cancelled request raises through (the job goes with it)."""
    args = dict(arguments)
    model = args.pop("model", None)
    try:
        api.tools.get(name)
        if not (model is None or isinstance(model, str)):
            raise ToolError("model must be a model's name")
        sink = progress_sink(progress)
        if name == DESCRIBE:
            return await _describe(api, caller, args)
        if name == EDIT:
            result = await _edit(api, caller, args, model, sink)
        else:
            result = await api.call(caller, name, args, engine=model, progress=sink)
    except (ToolError, Refused, UploadError) as exc:
        return error(str(exc))
    except QuotaExceeded as exc:
        return error(f"{exc} Try again in {max(1, round(exc.retry_after_s))} s.")
    except JobCancelled:
        return error("The job was cancelled.")
    except ContentRefused as exc:
        return error(f"{exc.provider}'s content policy declined this request.")
    except GenerationError as exc:
        return error(f"The image model failed: {exc}")
    except STORAGE:
        return error("Storage is unavailable right now; try again in a minute.")
    api.count("mcp", name, caller, 0, len(result.images))
    return await result_content(api, result)


_Args = TypeVar("_Args", bound=BaseModel)


def _validated(model: type[_Args], tool: str, raw: dict[str, Any]) -> _Args:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ToolError(f"bad arguments for {tool}: {in_words(exc.errors()[0], model)}"
                        ) from None


async def _image_id(api: ApiTools, caller: Caller, image_id: str | None,
                    image_b64: str | None) -> str:
    """A stored picture's id, or a sent picture stored now (it passes checkpoint 3)."""
    if image_id is not None:
        return image_id
    assert image_b64 is not None  # the args model requires exactly one of the two
    return (await api.upload(caller, _decode(image_b64, "image"))).image_id


async def _edit(api: ApiTools, caller: Caller, raw: dict[str, Any], model: str | None,
                sink: EventSink) -> ToolResult:
    args = _validated(McpEditImageArgs, EDIT, raw)
    image_id = await _image_id(api, caller, args.image_id, args.image)
    if args.mask is not None:
        try:
            api.tools.get(REGION)
        except ToolError:
            raise ToolError("this server cannot redraw part of a picture") from None
        region = {"image_id": image_id, "prompt": args.prompt, "mask_png": args.mask,
                  "strength": args.strength, "seed": args.seed}
        return await api.call(caller, REGION, _set(region), engine=model, progress=sink)
    edit = {"image_id": image_id, "prompt": args.prompt, "strength": args.strength,
            "seed": args.seed, "n": args.n, "negative_prompt": args.negative_prompt}
    return await api.call(caller, EDIT, _set(edit), engine=model, progress=sink)


async def _describe(api: ApiTools, caller: Caller, raw: dict[str, Any]
                    ) -> types.CallToolResult:
    """The prompts as text (one a line) and as structured content; a sent picture passes
    checkpoint 3 and is kept like an edit's, each prompt passes checkpoint 2."""
    args = _validated(McpDescribeImageArgs, DESCRIBE, raw)
    image_id = await _image_id(api, caller, args.image_id, args.image)
    result = await api.call(caller, DESCRIBE, {"image_id": image_id})
    prompts = await allowed_prompts(api.gate, list(result.data.get("prompts", [])),
                                    caller.user_id, api.strictness)
    api.count("mcp", DESCRIBE, caller, 0)
    if not prompts:
        return error("No prompt for this picture passed the safety check.")
    return types.CallToolResult(
        content=[types.TextContent(type="text", text="\n".join(prompts))],
        structured_content={"prompts": prompts, "image_id": image_id})


def _set(args: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in args.items() if v is not None}


def _decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.split(",", 1)[-1], validate=True)
    except (binascii.Error, ValueError):
        raise ToolError(f"the {what} is not base64") from None


def progress_sink(report: Progress) -> EventSink:
    """Job events as MCP progress notifications. Progress must grow with every
    notification: the steps count 1..total, and the waiting updates before them count
    up in hundredths below 1 (there is no total yet while the job waits)."""
    sent = 0.0

    async def sink(event: JobEvent) -> None:
        nonlocal sent
        if isinstance(event, JobQueued):
            value, total = round(sent + 0.01, 2), None
            message = f"#{event.position} in line, about {event.eta_s:.0f} s"
        else:
            value, total = float(event.step), float(event.total)
            message = f"step {event.step}/{event.total}"
        if value <= sent or (total is None and value >= 1):
            return
        sent = value
        await report(value, total, message)

    return sink


async def result_content(api: ApiTools, result: ToolResult) -> types.CallToolResult:
    if not result.images:
        return error(result.text or "No picture could be delivered; try another prompt.")
    content: list[types.ContentBlock] = []
    for image in result.images:
        data = await api.picture(image.image_id)
        content.append(types.ImageContent(type="image", data=base64.b64encode(data).decode(),
                                          mime_type=image.content_type))
    lines = [result.text] if result.text else []
    lines.append(f"Prompt used: {result.prompt}")
    for image in result.images:
        seed = f"seed {image.seed}, " if image.reproducible else ""
        lines.append(f"Image id: {image.image_id} ({seed}{image.width}x{image.height})")
    content.append(types.TextContent(type="text", text="\n".join(lines)))
    structured = {"prompt": result.prompt, "engine": result.engine, "note": result.text or None,
                  "withheld": result.withheld,
                  "images": [{"image_id": i.image_id, "width": i.width, "height": i.height,
                              "seed": i.seed if i.reproducible else None}
                             for i in result.images]}
    return types.CallToolResult(content=content, structured_content=structured)


def error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)],
                                is_error=True)


