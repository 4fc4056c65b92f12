"""The image tools: `generate_image(prompt, n, size, seed?, negative_prompt?)` and
`edit_image(image_id, prompt, strength, seed?)` (image-to-image of a stored image)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial

from PIL import Image
from pydantic import BaseModel, Field

from imaging.engine import ImageRequest, ImageResult
from imaging.engines.registry import EngineSet
from imaging.jobs import EventSink, ImageJob, JobEvent, JobProgress, JobRunner
from imaging.sizes import parse_size
from imaging.store import ImageStore, decode_stored, encode_png, new_image_id
from tools.base import (
    DeliveredImage,
    JobJournal,
    ToolArgsError,
    ToolContext,
    ToolResult,
    ToolSpec,
)
from tools.engine_plan import (
    Plan,
    check_edit,
    check_n,
    fit_size,
    fold_negative,
    plan_for,
    resolve,
    steps_for,
)
from tools.image_args import GENERATE_IMAGE_SPEC, GenerateImageArgs
from tools.keep import KeepTrying
from tools.stamp import Stamp

log = logging.getLogger(__name__)

# Checks output images before anything is stored or shown (the safety gate's checkpoint
# 3): returns one flag per image (True = deliver) and what to tell the user about the
# withheld ones, if any.
ImageCheck = Callable[[list[Image.Image], str], Awaitable[tuple[list[bool], str | None]]]


@dataclass(frozen=True, slots=True)
class ImageLimits:
    default_size: tuple[int, int]
    steps: int
    guidance_scale: float
    max_side: int = 1536
    max_images: int = 4
    # The operator's EASEL_IMAGE_SIZE: every engine's default when set (fitted to the
    # sizes an engine makes); unset, each engine uses its own.
    fixed_size: tuple[int, int] | None = None


class GenerateImageTool:
    spec: ToolSpec = GENERATE_IMAGE_SPEC

    def __init__(self, runner: JobRunner, store: ImageStore, limits: ImageLimits,
                 image_check: ImageCheck, engines: EngineSet | None = None,
                 stamp: Stamp | None = None, journal: JobJournal | None = None,
                 keep: KeepTrying | None = None) -> None:
        """`image_check` is required: every output image passes it before it is stored
        (a disabled gate passes everything, loudly; a missing check is not an option).
        `engines`: the deployment's named engines, chosen per request by `ctx.engine`.
        `stamp`: provenance (watermark and C2PA) on every stored image. `journal`: job
        records for calls that carry `ctx.resume` (their bot process may die mid-job).
        `keep`: how long a finished picture waits out a storage outage (tools/keep.py)."""
        self.runner = runner
        self.store = store
        self.limits = limits
        self.image_check = image_check
        self.engines = engines
        self.stamp = stamp
        self.journal = journal
        self.keep = keep or KeepTrying()

    def build_request(self, args: GenerateImageArgs, steps: int | None = None,
                      engine: str | None = None, plan: Plan | None = None) -> ImageRequest:
        named = resolve(self.engines, engine)
        plan = plan if plan is not None else Plan()
        if args.size:
            try:
                width, height = parse_size(args.size, self.limits.max_side)
            except ValueError as exc:
                raise ToolArgsError(str(exc)) from None
        elif named is not None:
            width, height = self.limits.fixed_size or named.engine.default_size
        else:
            width, height = self.limits.default_size
        width, height = fit_size(named, width, height, bool(args.size), plan)
        if args.n > self.limits.max_images:
            raise ToolArgsError(f"at most {self.limits.max_images} images per request")
        check_n(named, args.n)
        prompt, negative = fold_negative(named, args.prompt, args.negative_prompt or None, plan)
        seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
        return ImageRequest(
            prompt=prompt,
            n=args.n,
            width=width,
            height=height,
            steps=steps_for(named, steps, self.limits.steps),
            guidance_scale=named.engine.guidance_scale if named is not None
            else self.limits.guidance_scale,
            seed=seed,
            negative_prompt=negative,
        )

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolResult:
        assert isinstance(args, GenerateImageArgs)
        plan = plan_for(resolve(self.engines, ctx.engine))
        request = self.build_request(args, ctx.steps, ctx.engine, plan)
        result = await self.submit(request, ctx, plan)
        return finish(await self.deliver(result, ctx, request), result, plan)

    async def submit(self, request: ImageRequest, ctx: ToolContext, plan: Plan | None = None,
                     parent_image: str | None = None, quota_images: int | None = None
                     ) -> ImageResult:
        """Queue the job and wait for it, passing its events on. Raises `QuotaExceeded`
        (nothing queued), `JobCancelled` or `GenerationError`. `quota_images`: what the
        job counts as against the quotas when not its `n` (an upscale: its pixel area)."""
        job = ImageJob(request, ctx.user_id, ctx.tenant_id,
                       engine=plan.engine if plan is not None else None,
                       quota_images=quota_images)
        ctx.job_ids.append(job.id)
        if self.journal is not None and ctx.resume is not None:
            if ctx.own is not None:  # the record names the user's prompt: /forget finds it
                await ctx.own("job", [job.id])
            plan = plan if plan is not None else Plan()
            await self.journal.create(job, {
                **ctx.resume, "conversation_id": ctx.conversation_id, "user_id": ctx.user_id,
                "tenant_id": ctx.tenant_id, "engine": ctx.engine, "steps": ctx.steps,
                "parent_image": parent_image, "notes": list(plan.notes),
                "reproducible": plan.reproducible, "plan_engine": plan.engine})
        handle = await self.runner.submit(job)
        return await handle.wait(self._checked(ctx) if ctx.progress is not None else None)

    def _checked(self, ctx: ToolContext) -> EventSink:
        """The channel's sink, behind the image check: a preview is an output image too,
        so it is checked before anyone sees it, and one flagged preview ends the job's
        previews (the final images are still checked, and withheld if they fail)."""
        assert ctx.progress is not None
        sink = ctx.progress
        flagged = False

        async def events(event: JobEvent) -> None:
            nonlocal flagged
            if isinstance(event, JobProgress) and event.preview is not None:
                if not flagged:
                    keep, _ = await self.image_check([event.preview], ctx.user_id)
                    flagged = not (keep and keep[0])
                if flagged:
                    event = JobProgress(event.job, event.step, event.total, None)
            await sink(event)

        return events

    async def deliver(self, result: ImageResult, ctx: ToolContext, request: ImageRequest,
                      parent: bytes | None = None, action: str | None = None) -> ToolResult:
        """Check (safety), mark, sign, store and describe the images of a finished job.
        `parent`: the stored picture an edit started from (the manifest's ingredient);
        `action`: the manifest's action for it when not `c2pa.edited` (`c2pa.resized`)."""
        keep, note = await self.image_check(result.images, ctx.user_id)
        if len(keep) != len(result.images):  # fail closed on a confused check
            keep = [False] * len(result.images)
        passed = [(image, seed) for image, seed, ok in zip(result.images, result.seeds, keep, strict=True)
                  if ok]
        # Only what passed is stored; those images are encoded and written side by side (PNG
        # encoding runs in worker threads), not one after another.
        ids = [new_image_id() for _ in passed]
        data = await asyncio.gather(*(self._encode(image, image_id, ctx, request, parent, action)
                                      for (image, _), image_id in zip(passed, ids, strict=True)))
        # Encoded once; in a storage outage only the writes wait and are tried again. The
        # user's index first, so that a /forget at any moment finds what is written next.
        what = f"a finished picture of job {ctx.job_ids[-1] if ctx.job_ids else '-'}"
        if ids and ctx.own is not None:
            await self.keep.run(partial(ctx.own, "image", ids), what)
        saved = await asyncio.gather(*(
            self.keep.run(partial(self.store.save_encoded, d, image.width, image.height, i), what)
            for d, (image, _), i in zip(data, passed, ids, strict=True)))
        delivered = [DeliveredImage(s.image_id, s.width, s.height, seed)
                     for s, (_, seed) in zip(saved, passed, strict=True)]
        return ToolResult(text=note or "", images=delivered, prompt=request.prompt,
                          steps=request.steps, withheld=keep.count(False),
                          data={"seed": request.seed, "size": f"{request.width}x{request.height}",
                                "width": request.width, "height": request.height})


    async def _encode(self, image: Image.Image, image_id: str, ctx: ToolContext,
                      request: ImageRequest, parent: bytes | None,
                      action: str | None = None) -> bytes:
        if self.stamp is None:
            return await asyncio.to_thread(encode_png, image)
        return await self.stamp.mark(image, image_id, engine=ctx.engine, prompt=request.prompt,
                                     user_id=ctx.user_id, parent=parent, action=action)


class EditImageArgs(BaseModel):
    """Image-to-image from a stored image of this conversation."""

    image_id: str = Field(min_length=22, max_length=64)
    prompt: str = Field(min_length=1, max_length=1000)
    strength: float = Field(default=0.5, ge=0.05, le=1.0)
    seed: int | None = Field(default=None, ge=0, le=2**63 - 1)
    n: int = Field(default=1, ge=1, le=4)
    negative_prompt: str | None = Field(default=None, max_length=1000)


EDIT_IMAGE_SPEC = ToolSpec(
    name="edit_image",
    description="Change a stored image of this conversation so it matches a new prompt, "
                "keeping its composition (image-to-image).",
    args_model=EditImageArgs,
)


class EditImageTool:
    spec: ToolSpec = EDIT_IMAGE_SPEC

    def __init__(self, generate: GenerateImageTool) -> None:
        self.generate = generate  # shares its runner, store, limits and image check

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolResult:
        assert isinstance(args, EditImageArgs)
        g = self.generate
        # One read: the bytes are the manifest's parent, decoded they are the init image.
        parent = await g.store.read(args.image_id)
        source = await decode_stored(parent)
        if source is None:
            raise ToolArgsError("that image is no longer available; make a new one")
        named = resolve(g.engines, ctx.engine)
        check_edit(named)
        plan = plan_for(named)
        width, height = fit_size(named, source.width, source.height, False, plan)
        check_n(named, args.n)
        prompt, negative = fold_negative(named, args.prompt, args.negative_prompt or None, plan)
        seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
        request = ImageRequest(
            prompt=prompt, n=args.n, width=width, height=height,
            steps=steps_for(named, ctx.steps, g.limits.steps),
            guidance_scale=named.engine.guidance_scale if named is not None
            else g.limits.guidance_scale,
            seed=seed, negative_prompt=negative,
            init_image=source.convert("RGB"), strength=args.strength,
        )
        result = await g.submit(request, ctx, plan, parent_image=args.image_id)
        return finish(await g.deliver(result, ctx, request, parent), result, plan)


def finish(out: ToolResult, result: ImageResult, plan: Plan) -> ToolResult:
    """What the engine plan adds to a delivered result: the notes for the user, the
    prompt the engine says it used, which engine drew it, whether seeds reproduce."""
    if result.revised_prompt:
        out.prompt = result.revised_prompt
    if plan.notes:
        out.text = " ".join([*plan.notes, out.text]).strip()
    if not plan.reproducible:
        out.images = [replace(i, reproducible=False) for i in out.images]
    out.engine = plan.engine
    return out

