"""One OpenAI Images API request, on the chat's own path: what a key may draw, and how.

Checkpoint 1 on the words when the rewriter is asked for (`easel_rewrite`), checkpoint 2
on the prompt the engine will draw, checkpoint 3 on the pictures sent (as on a chat
upload) and, inside the image tool, on every preview and picture made. Then the image
tool (tools/image.py): the fair queue and quotas, the engine router, the provenance stamp
and the store. A generation is the tool's `run`; an edit or a variation is a masked or
image-to-image request given to the same tool's `submit` and `deliver`, as
`EditImageTool` does for a stored picture.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from PIL import Image
from pydantic import ValidationError

from bot.api.openai_errors import bad_param, model_not_found, moderation_blocked
from bot.api.openai_inputs import Picture, compose, fitted_size
from bot.api.openai_params import OPENAI_MODELS, EditParams, GenerationParams
from bot.api.tool_calls import ApiMetrics
from bot.llm.base import Brain, BrainRequest
from bot.llm.profiles import PromptProfile
from bot.pipeline.studio import VARY_STRENGTH
from bot.state.conversations import ConversationStore
from bot.state.keys import ApiKey, KeyStore, api_user_key
from imaging.engine import ImageRequest
from imaging.engines.registry import EngineSet, NamedEngine
from imaging.jobs import EventSink
from imaging.sizes import parse_size
from imaging.store import ImageStore
from imaging.uploads import DecodeSlots
from safety.audit import Checkpoint
from safety.gate import Gate
from tools.base import DeliveredImage, ToolContext, ToolResult
from tools.engine_plan import (
    EditUnsupported,
    OperationUnsupported,
    check_edit,
    check_operation,
    fit_size,
    plan_for,
    resolve,
    steps_for,
)
from tools.image import GenerateImageTool, finish
from tools.image_args import GenerateImageArgs

# Edits without a mask: how far the picture may move (input_fidelity high keeps more).
EDIT_STRENGTH = {"high": 0.45, "low": 0.7}
# What a remote engine (it needs words) is asked for a variation; local ones get none.
VARIATION_PROMPT = "a variation of this picture, same subject, composition and style"

class UserLimits(Protocol):
    """The quotas, as a key's own limits are set there (imaging/jobs/quotas.py)."""

    def limit_user(self, user: str, images_per_minute: int | None,
                   images_per_day: int | None) -> None: ...


@dataclass(slots=True)
class ImagesDeps:
    """What the OpenAI Images API needs of easel's services (bot/app/openai_wiring.py)."""

    generate: GenerateImageTool
    engines: EngineSet
    gate: Gate
    store: ImageStore
    keys: KeyStore
    conversations: ConversationStore  # where a key's stored pictures are noted (forget)
    brain: Brain
    profile_for: Callable[[str | None], PromptProfile]
    metrics: ApiMetrics | None = None
    quotas: UserLimits | None = None
    sign_copy: Callable[[bytes, bytes], Awaitable[bytes]] | None = None  # Stamp.sign_copy
    public_url: str | None = None
    strictness: str | None = None
    max_images: int = 4
    max_side: int = 1536
    max_body_bytes: int = 25 * 1024 * 1024
    decodes: DecodeSlots = field(default_factory=DecodeSlots)


@dataclass(slots=True)
class Drawn:
    images: list[DeliveredImage]
    prompt: str  # what the engine drew
    asked: str  # the prompt as sent
    width: int
    height: int
    inputs: int = 0  # pictures sent
    tool_s: float = 0.0  # how long the image tool took (the answer's Server-Timing)

    @property
    def revised(self) -> str | None:
        return self.prompt if self.prompt != self.asked else None


class OpenAIImages:
    def __init__(self, deps: ImagesDeps) -> None:
        self.deps = deps

    async def authorize(self, presented: str | None) -> ApiKey | None:
        """The key's record (its own limits set on the quotas), or None."""
        found = await self.deps.keys.verify(presented) if presented else None
        if found is not None and self.deps.quotas is not None:
            self.deps.quotas.limit_user(found.user_id, found.images_per_minute,
                                        found.images_per_day)
        return found

    def engine(self, model: str | None) -> NamedEngine:
        """The engine a request names: an engine's name, OpenAI's own model names (the
        default engine), or nothing (the default engine); else 404."""
        engines = self.deps.engines
        named = engines.get(model) if model is not None else engines.default
        if named is None and model is not None and model.startswith(OPENAI_MODELS):
            named = engines.default
        if named is None:
            raise model_not_found(str(model))
        return named

    def check_n(self, named: NamedEngine, n: int) -> None:
        most = min(self.deps.max_images, named.capabilities.max_n)
        if n > most:
            raise bad_param("n", f"{named.name} makes at most {most} image"
                                 f"{'s' if most != 1 else ''} per request on this server.")

    def check_size(self, size: str | None) -> tuple[int, int] | None:
        if size is None:
            return None
        try:
            return parse_size(size, self.deps.max_side)
        except ValueError as exc:
            raise bad_param("size", f"Invalid size {size!r}: {exc}.") from None

    def context(self, key: ApiKey, named: NamedEngine, steps: int | None,
                progress: EventSink | None) -> ToolContext:
        several = len(self.deps.engines) > 1
        return ToolContext(f"api/{key.user_id}", key.user_id, progress, steps=steps,
                           engine=named.name if several else None,
                           own=partial(self.deps.conversations.own, api_user_key(key.name)))

    async def _check(self, text: str, checkpoint: Checkpoint, key: ApiKey) -> None:
        verdict = await self.deps.gate.check_text(text, checkpoint, key.user_id,
                                                  self.deps.strictness)
        if not verdict.allowed:
            raise moderation_blocked(self.deps.gate.refusal_message(verdict), "input",
                                     [verdict.category.value] if verdict.category else [])

    async def prompt(self, key: ApiKey, prompt: str, rewrite: bool, named: NamedEngine
                     ) -> str:
        """The prompt to draw: as sent, or the rewriter's; it passes checkpoint 2."""
        if rewrite:
            await self._check(prompt, "input", key)
            profile = self.deps.profile_for(named.name)
            decision = await self.deps.brain.decide(BrainRequest(
                text=prompt, tools=[self.deps.generate.spec], force_tool="generate_image",
                max_prompt_tokens=profile.max_tokens, profile=profile))
            written = decision.args.get("prompt")
            prompt = written.strip() if isinstance(written, str) and written.strip() \
                else prompt
        await self._check(prompt, "prompt", key)
        return prompt

    async def check_pictures(self, key: ApiKey, pictures: list[Picture]) -> None:
        """Pictures sent pass the output check before easel works on them (a chat upload
        does too)."""
        verdicts = await self.deps.gate.check_images([p.image for p in pictures], key.user_id,
                                                     self.deps.strictness)
        refused = [v for v in verdicts if not v.allowed]
        if refused or len(verdicts) != len(pictures):
            first = refused[0] if refused else None
            raise moderation_blocked(
                self.deps.gate.refusal_message(first) if first else
                "The pictures could not be checked.", "input",
                [first.category.value] if first and first.category else [])

    async def generate(self, key: ApiKey, params: GenerationParams,
                       progress: EventSink | None = None) -> Drawn:
        named = self.engine(params.model)
        self.check_n(named, params.n)
        size = self.check_size(params.size)
        prompt = await self.prompt(key, params.prompt, params.easel_rewrite, named)
        ctx = self.context(key, named, params.steps(named.engine.default_steps), progress)
        try:
            args = GenerateImageArgs(prompt=prompt, n=params.n,
                                     size=f"{size[0]}x{size[1]}" if size else None)
        except ValidationError:  # a rewritten prompt past the tool's limit
            raise bad_param("prompt", "The rewritten prompt is too long to draw; send a "
                                      "shorter one.") from None
        started = time.perf_counter()
        out = await self.deps.generate.run(args, ctx)
        return self._drawn(out, params.prompt, 0, time.perf_counter() - started)

    async def edit(self, key: ApiKey, params: EditParams, pictures: list[Picture],
                   mask: Image.Image | None, progress: EventSink | None = None) -> Drawn:
        """An edit of the pictures sent (`mask`: the redraw mask, mode L, of the first)."""
        named = self.engine(params.model)
        self.check_n(named, params.n)
        try:
            check_edit(named)
            if mask is not None:
                check_operation(named, "inpaint")
        except (EditUnsupported, OperationUnsupported) as exc:
            raise bad_param("mask" if mask is not None else "model", f"{exc}.") from None
        prompt = await self.prompt(key, params.prompt, params.easel_rewrite, named)
        await self.check_pictures(key, pictures)
        strength = None if mask is not None else EDIT_STRENGTH[params.input_fidelity or "low"]
        return await self._redraw(key, named, pictures, mask, prompt, params.prompt,
                                  params.n, params.size, strength,
                                  params.steps(named.engine.default_steps), progress)

    async def vary(self, key: ApiKey, model: str | None, n: int, size: str | None,
                   picture: Picture) -> Drawn:
        named = self.engine(model)
        self.check_n(named, n)
        try:
            check_edit(named)
        except EditUnsupported as exc:
            raise bad_param("model", f"{exc}.") from None
        await self.check_pictures(key, [picture])
        prompt = VARIATION_PROMPT if named.remote else ""
        return await self._redraw(key, named, [picture], None, prompt, "", n, size,
                                  VARY_STRENGTH, None, None)

    async def _redraw(self, key: ApiKey, named: NamedEngine, pictures: list[Picture],
                      mask: Image.Image | None, prompt: str, asked: str, n: int, size: str | None,
                      strength: float | None, steps: int | None, progress: EventSink | None
                      ) -> Drawn:
        g = self.deps.generate
        wanted = self.check_size(size)
        ctx = self.context(key, named, steps, progress)
        tool_engine = resolve(g.engines, ctx.engine)
        plan = plan_for(tool_engine)
        width, height = wanted or fitted_size(*pictures[0].size, self.deps.max_side)
        width, height = fit_size(tool_engine, width, height, wanted is not None, plan)
        init, redraw = await asyncio.to_thread(compose, pictures, mask, (width, height))
        request = ImageRequest(
            prompt=prompt, n=n, width=width, height=height,
            steps=steps_for(tool_engine, ctx.steps, g.limits.steps),
            guidance_scale=tool_engine.engine.guidance_scale if tool_engine is not None
            else g.limits.guidance_scale,
            seed=secrets.randbelow(2**31), init_image=init, strength=strength, mask=redraw)
        started = time.perf_counter()
        result = await g.submit(request, ctx, plan)
        out = finish(await g.deliver(result, ctx, request, pictures[0].data), result, plan)
        return self._drawn(out, asked or prompt, len(pictures), time.perf_counter() - started)

    def _drawn(self, out: ToolResult, asked: str, inputs: int, tool_s: float) -> Drawn:
        if not out.images:
            raise moderation_blocked(out.text or "Every picture made was withheld by the "
                                     "safety check.", "output", [])
        first = out.images[0]
        return Drawn(out.images, out.prompt or asked, asked, first.width, first.height, inputs,
                     tool_s)

