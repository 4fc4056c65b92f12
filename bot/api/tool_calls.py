"""One image tool call for an API caller, on the same path as a chat turn.

The A1111 API and the MCP server both come here: checkpoint 2 on the prompt the engine
will draw (API clients send final prompts, so that is the prompt as given), then the chat's
own tools (tools/image.py, tools/canvas.py) with a `ToolContext` for the caller: the job
runner's fair queue and quotas, the engine router, checkpoint 3, the provenance stamp and
the image store, exactly as for a chat turn. A picture a caller sends in (an init image)
passes checkpoint 3 before easel keeps it, like a chat upload, and everything stored is
noted under the caller for `forget`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from bot.errors import EaselError
from bot.state.conversations import ConversationStore
from bot.state.keys import KeyStore, api_user_key
from imaging.engines.registry import EngineSet
from imaging.jobs import EventSink, JobBoard, Quotas
from imaging.store import ImageStore, StoredImage, new_image_id
from imaging.uploads import DecodeSlots, UploadError, open_upload, prepare_upload
from safety.gate import Gate
from tools.base import ToolArgsError, ToolContext, ToolRegistry, ToolResult


class Refused(EaselError):
    """A safety checkpoint refused the request; the message is the gate's, for the user."""


class UnknownModel(ToolArgsError):
    """No engine of that name."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks: `user_id` counts for quotas and the safety audit, `owner` is the key
    everything stored for them is noted under (what `forget` erases)."""

    user_id: str
    owner: str
    key: str = "-"  # the API key's name, for /metrics ("-": none, the local user)

    @property
    def conversation_id(self) -> str:
        return f"api/{self.user_id}"


class ApiMetrics(Protocol):
    """What the APIs count (bot/app/metrics.py: Prometheus)."""

    def api_request(self, api: str, endpoint: str, key: str, status: int) -> None: ...

    def api_images(self, api: str, key: str, images: int) -> None: ...


@dataclass(slots=True)
class ApiTools:
    """What an API request needs of easel's services (wired in bot/app/api_wiring.py).
    `keys` None: no key store (stdio MCP, where the caller is the local user)."""

    tools: ToolRegistry
    gate: Gate
    store: ImageStore
    conversations: ConversationStore
    engines: EngineSet
    jobs: JobBoard
    keys: KeyStore | None = None
    quotas: Quotas | None = None
    metrics: ApiMetrics | None = None
    strictness: str | None = None
    max_side: int = 1536
    max_images: int = 4
    max_body: int = 25 * 1024 * 1024  # bytes of a request body (EASEL_API_MAX_BODY_MB)
    decodes: DecodeSlots = field(default_factory=DecodeSlots)

    async def authorize(self, key: str) -> Caller | None:
        """The caller an API key stands for (its own quotas applied), or None."""
        found = await self.keys.verify(key) if self.keys is not None and key else None
        if found is None:
            return None
        if self.quotas is not None:
            self.quotas.limit_user(found.user_id, found.images_per_minute,
                                   found.images_per_day)
        return Caller(found.user_id, api_user_key(found.name), found.name)

    def count(self, api: str, endpoint: str, caller: Caller | None, status: int,
              images: int = 0) -> None:
        """One request to `api` for /metrics (`status` 0: none, only `images`)."""
        if self.metrics is None:
            return
        key = caller.key if caller is not None else "-"
        if status:
            self.metrics.api_request(api, endpoint, key, status)
        if images:
            self.metrics.api_images(api, key, images)

    def engine(self, name: str | None) -> str | None:
        """The engine a request names, checked (`UnknownModel`); None: the default one.
        A one-engine deployment takes its own name too (the tools then need none)."""
        if name is None:
            return None
        if self.engines.get(name) is None:
            raise UnknownModel(f"there is no model called {name!r}")
        return name if len(self.engines) > 1 else None

    async def call(self, caller: Caller, tool: str, args: dict[str, object], *,
                   engine: str | None = None, steps: int | None = None,
                   progress: EventSink | None = None) -> ToolResult:
        """Run `tool` for `caller`. Raises `ToolArgsError` (bad arguments, nothing
        queued), `Refused` (checkpoint 2), `QuotaExceeded`, `JobCancelled`,
        `GenerationError`, or the tool's own `ToolError`."""
        parsed = self.tools.parse_args(tool, dict(args))
        named = self.engine(engine)
        prompt = getattr(parsed, "prompt", None)
        if isinstance(prompt, str):
            verdict = await self.gate.check_text(prompt, "prompt", caller.user_id,
                                                 self.strictness)
            if not verdict.allowed:
                raise Refused(self.gate.refusal_message(verdict))
        ctx = ToolContext(caller.conversation_id, caller.user_id, progress, steps=steps,
                          engine=named, own=partial(self.conversations.own, caller.owner))
        return await self.tools.get(tool).run(parsed, ctx)

    async def upload(self, caller: Caller, data: bytes) -> StoredImage:
        """Keep a picture the caller sent (fitted like a chat upload) so the tools can
        work on it. Raises `UploadError` (not a picture we open) or `Refused` (it fails
        checkpoint 3, as a chat upload would)."""
        image = await self.decodes.run(prepare_upload, data, self.max_side)
        [verdict] = await self.gate.check_images([image], caller.user_id, self.strictness)
        if not verdict.allowed:
            raise Refused(self.gate.refusal_message(verdict))
        image_id = new_image_id()
        await self.conversations.own(caller.owner, "image", [image_id])
        return await self.store.save(image, image_id)

    async def picture(self, image_id: str) -> bytes:
        """A stored picture's bytes as delivered (watermarked, signed)."""
        data = await self.store.read(image_id)
        if data is None:
            raise ToolArgsError("that image is no longer available")
        return data


def picture_size(data: bytes) -> tuple[int, int]:
    """Blocking (cheap: the header only): a sent picture's size. `UploadError` if it is
    not a picture easel opens."""
    image = open_upload(data)
    try:
        return image.size
    finally:
        image.close()


async def sizes_of(*pictures: bytes) -> list[tuple[int, int]]:
    """The sizes of sent pictures, read in a thread."""
    return await asyncio.to_thread(lambda: [picture_size(p) for p in pictures])


__all__ = ["ApiTools", "Caller", "Refused", "UnknownModel", "UploadError", "sizes_of"]
