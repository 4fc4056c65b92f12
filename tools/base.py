"""Tools the brain can call: a spec (name, description, pydantic args) plus an async run.

The brain sees tools only through `ToolSpec.json_schema()`, the same shape as OpenAI's
`tools=[{"type": "function", "function": {...}}]`, so every backend (rules, local
transformers, OpenAI-compatible HTTP) can be offered the same list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from imaging.jobs import EventSink, ImageJob

# A progress sink gets the job's events: `JobQueued(position, eta_s)` while it waits,
# `JobProgress(step, total, preview)` while it runs. Channels render them in place.
ProgressSink = EventSink

# Notes objects about to be stored for the asking user ("image" or "job", their ids), so
# that everything a user has stored can be found and deleted from the user (/forget).
# Called before the objects are written; it may raise the store's `StoreUnavailable`.
Own = Callable[[str, list[str]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DeliveredImage:
    """An image that passed the gate, is stored and may be shown to the user."""

    image_id: str  # unguessable id; served at /images/{image_id}
    width: int
    height: int
    seed: int
    content_type: str = "image/png"
    reproducible: bool = True  # False: the engine has no seed control, so don't show it


class ToolError(Exception):
    """Root of the tool errors; the message is safe to show to the user."""


class UnknownToolError(ToolError):
    pass


class ToolArgsError(ToolError):
    pass


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    args_model: type[BaseModel]

    def json_schema(self) -> dict[str, Any]:
        """OpenAI-style function tool definition."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.args_model.model_json_schema(),
            },
        }


@dataclass(slots=True)
class ToolContext:
    """Per-call dependencies; tools never reach for globals."""

    conversation_id: str
    user_id: str
    progress: ProgressSink | None = None
    steps: int | None = None  # per-conversation override of the engine's default
    tenant_id: str | None = None  # for per-tenant quotas
    engine: str | None = None  # a named engine; None = the deployment's default
    # How to finish and deliver this call's job if the bot process dies meanwhile (the
    # caller's opaque, JSON-able description; kept in the job record). None: not durable.
    resume: dict[str, Any] | None = None
    job_ids: list[str] = field(default_factory=list)  # the jobs this call submitted
    own: Own | None = None  # None: nobody asks for it back (the CLI, tests)


class JobJournal(Protocol):
    """Where durable jobs are recorded before they are queued (imaging/jobs/records.py)."""

    async def create(self, job: ImageJob, context: dict[str, Any]) -> None: ...


@dataclass(slots=True)
class ToolResult:
    text: str = ""
    images: list[DeliveredImage] = field(default_factory=list)
    prompt: str | None = None
    steps: int | None = None
    withheld: int = 0
    data: dict[str, Any] = field(default_factory=dict)
    engine: str | None = None  # the named engine that drew it


class Tool(Protocol):
    spec: ToolSpec

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolResult: ...


class ToolRegistry:
    def __init__(self, tools: list[Tool] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools or []:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.spec.name in self._tools:
            raise ValueError(f"tool {tool.spec.name!r} registered twice")
        self._tools[tool.spec.name] = tool

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownToolError(f"unknown tool {name!r}") from None

    def specs(self) -> list[ToolSpec]:
        return [t.spec for t in self._tools.values()]

    def parse_args(self, name: str, raw: dict[str, Any]) -> BaseModel:
        tool = self.get(name)
        try:
            return tool.spec.args_model.model_validate(raw)
        except ValidationError as exc:
            words = in_words(exc.errors()[0], tool.spec.args_model)
            raise ToolArgsError(f"bad arguments for {name}: {words}") from exc

    async def call(self, name: str, raw: dict[str, Any], ctx: ToolContext) -> ToolResult:
        args = self.parse_args(name, raw)
        return await self.get(name).run(args, ctx)


_BOUNDS = {"less_than_equal": ("at most", "le"), "greater_than_equal": ("at least", "ge"),
           "less_than": ("less than", "lt"), "greater_than": ("more than", "gt")}


def in_words(error: Mapping[str, Any], model: type[BaseModel]) -> str:
    """A pydantic error as words a user can act on: which value, and its limit ("the
    prompt is too long: at most 1,000 characters"), not pydantic's "String should have
    at most 1000 characters". A field's `title`, when it has one, names it."""
    loc = error.get("loc") or ()
    name = str(loc[0]) if loc else ""
    info = model.model_fields.get(name)
    what = "the " + (info.title if info is not None and info.title else
                     name.replace("_", " ")) if name else "the arguments"
    kind, ctx, value = error.get("type", ""), error.get("ctx") or {}, error.get("input")
    if kind == "string_too_long":
        has = f" (this one has {len(value):,})" if isinstance(value, str) else ""
        return f"{what} is too long: at most {ctx.get('max_length', 0):,} characters{has}"
    if kind == "string_too_short":
        return f"{what} is empty"
    if kind == "missing":
        return f"{what} is missing"
    if kind in _BOUNDS:
        bound, key = _BOUNDS[kind]
        return f"{what} must be {bound} {ctx.get(key)}"
    if kind.startswith("int_"):
        return f"{what} must be a whole number"
    if kind == "string_pattern_mismatch":
        return f"{what} is not in the expected form"
    return f"{what} is not valid ({error.get('msg', 'unknown error')})"
