"""The `upscale` tool: a stored picture 2 or 4 times larger, subtle or creative.

With the operator's super-resolution model (EASEL_UPSCALER, loaded once at start-up) the
model enlarges it; a creative upscale then adds a low-strength image-to-image pass through
the engine. Without one, a hi-res fix through the engine itself: the picture enlarged,
then image-to-image at low strength, in overlapping tiles of the engine's own size when
the target is larger (a local engine draws badly far past the size it was trained at).
A subtle result keeps the source's picture at the source's scale (imaging/canvas/detail.py),
so shrunk back it is the source; its manifest says `c2pa.resized`, a creative one
`c2pa.edited`. Past EASEL_MAX_UPSCALE_SIDE nothing is queued. An upscale counts against
the quotas by its pixel area in pictures of the engine's size, like the pictures it
replaces, so it is no way around the size limit.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets

from PIL import Image
from pydantic import BaseModel

from imaging.canvas import (
    CanvasError,
    blend_tiles,
    hires_tiles,
    keep_source_scale,
    upscale_plan,
    upscale_to,
)
from imaging.engine import GenerationError, ImageRequest, ImageResult
from imaging.engines.registry import NamedEngine
from imaging.jobs import ImageJob
from tools.base import ToolArgsError, ToolContext, ToolResult, ToolSpec
from tools.canvas import Canvas
from tools.canvas_args import UPSCALE_SPEC, UpscaleArgs
from tools.engine_plan import OperationUnsupported, Plan, check_operation, plan_for, resolve
from tools.image import finish

log = logging.getLogger(__name__)

SUBTLE_STRENGTH = 0.3  # the engine's detail; the picture itself is kept by keep_source_scale
CREATIVE_STRENGTH = 0.5  # room for new detail, still the same picture
AFTER_MODEL_STRENGTH = 0.35  # creative, after a super-resolution model already sharpened it
RESIZED = "c2pa.resized"


def area_cost(size: tuple[int, int], base: tuple[int, int]) -> int:
    """How many pictures of `base` size a picture of `size` counts as (at least one)."""
    return max(1, math.ceil(size[0] * size[1] / (base[0] * base[1])))


class UpscaleTool:
    spec: ToolSpec = UPSCALE_SPEC

    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas

    def _check_engine(self, ctx: ToolContext, mode: str) -> NamedEngine:
        """The engine, when it is needed (no upscaler model, or a creative pass) and able."""
        c = self.canvas
        named = c.engines.get(ctx.engine)
        if named is None:
            raise ToolArgsError(f"there is no engine called “{ctx.engine}”; `/models` lists them")
        if c.upscaler is not None and mode == "subtle":
            return named  # the model alone does it
        try:
            check_operation(named, "upscale")
        except OperationUnsupported as exc:
            hint = ("; a subtle upscale works (it uses this server's upscaler model)"
                    if c.upscaler is not None else
                    ", and this server has no upscaler model (EASEL_UPSCALER)")
            raise OperationUnsupported(f"{named.name} cannot add detail at a larger size{hint}"
                                       ) from exc
        return named

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolResult:
        assert isinstance(args, UpscaleArgs)
        c, g = self.canvas, self.canvas.generate
        named = self._check_engine(ctx, args.mode)
        parent, picture = await c.source(args.image_id)
        try:
            size = upscale_plan(picture.size, int(args.factor), c.max_upscale_side)
        except CanvasError as exc:
            raise ToolArgsError(str(exc)) from None
        cost = area_cost(size, g.limits.fixed_size or named.engine.default_size)
        plan = plan_for(resolve(g.engines, ctx.engine))
        seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
        request = c.request(ctx, named, prompt=args.prompt, size=size, init=picture, seed=seed,
                            strength=None)
        if c.upscaler is not None:
            final = await self._super_resolve(ctx, request, picture, size, cost)
            if args.mode == "creative":
                final = await self._refine(ctx, named, plan, request, final, size,
                                           args.image_id, AFTER_MODEL_STRENGTH, cost=0)
        else:
            strength = SUBTLE_STRENGTH if args.mode == "subtle" else CREATIVE_STRENGTH
            final = await self._refine(ctx, named, plan, request, picture, size,
                                       args.image_id, strength, cost=cost)
            if args.mode == "subtle":
                final = await asyncio.to_thread(keep_source_scale, picture, final)
        whole = ImageResult(request, [final], [seed])
        out = await g.deliver(whole, ctx, request, parent,
                              RESIZED if args.mode == "subtle" else None)
        return finish(out, whole, plan)

    async def _super_resolve(self, ctx: ToolContext, request: ImageRequest,
                             picture: Image.Image, size: tuple[int, int], cost: int
                             ) -> Image.Image:
        """The operator's model, counted against the quotas as the job it stands for."""
        c = self.canvas
        assert c.upscaler is not None
        upscaler = c.upscaler
        job = ImageJob(request, ctx.user_id, ctx.tenant_id, quota_images=cost)
        if c.quotas is not None:
            await c.quotas.admit(job)  # QuotaExceeded: nothing runs
        try:
            async with c.upscaling:
                return await asyncio.to_thread(upscale_to, upscaler, picture, size)
        except CanvasError:
            raise
        except Exception as exc:  # torch's errors: out of memory, a bad model
            log.exception("the upscaler model failed")
            raise GenerationError(f"the upscaler failed ({type(exc).__name__})") from exc
        finally:
            if c.quotas is not None:
                await c.quotas.release(job)

    async def _refine(self, ctx: ToolContext, named: NamedEngine, plan: Plan,
                      request: ImageRequest, start: Image.Image, size: tuple[int, int],
                      image_id: str, strength: float, *, cost: int) -> Image.Image:
        """`start` image-to-image at `size` with `request`'s prompt and seed: one job, or
        one per tile of the engine's own size when the target is larger (a local engine)."""
        c, g = self.canvas, self.canvas.generate
        tile = max(named.engine.default_size)
        if named.remote or max(size) <= tile:
            # One job; an engine told a larger size than its picture enlarges it itself.
            job = c.request(ctx, named, prompt=request.prompt, size=size, init=start,
                            seed=request.seed, strength=strength)
            result = await g.submit(job, ctx, plan, parent_image=image_id, quota_images=cost)
            return _at(result.images[0], size)
        big = start if start.size == size else await asyncio.to_thread(
            start.resize, size, Image.Resampling.LANCZOS)
        overlap = max(8, tile // 8)
        pieces = []
        for i, box in enumerate(hires_tiles(size, tile, overlap)):
            crop = big.crop(box)
            job = c.request(ctx, named, prompt=request.prompt, size=crop.size, init=crop,
                            seed=request.seed, strength=strength)
            # The whole picture's area is counted once, with the first tile.
            result = await g.submit(job, ctx, plan, parent_image=image_id,
                                    quota_images=cost if i == 0 else 0)
            pieces.append((box, result.images[0]))
        return await asyncio.to_thread(blend_tiles, size, pieces, overlap)


def _at(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    return image if image.size == size else image.resize(size, Image.Resampling.LANCZOS)
