"""The canvas tools: `edit_region`, `zoom_out` and `pan` here, `upscale` in tools/upscale.py.

Each builds its canvas and mask with imaging/canvas (in a thread: numpy and PIL), checks
the engine can do it before anything is queued, and submits one masked job through the
image tool's runner. What the engine draws is pasted back onto the source inside the mask
only (`composite`: every pixel outside it is the source's, exactly, because engines
re-encode the whole picture; zoom and pan, whose new area meets the source along a long
edge, hide that seam with the outpaint blend), and the whole composite, not just the new
part, then goes through checkpoint 3, the watermark and a C2PA manifest naming the
source as its parent.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets

from PIL import Image
from pydantic import BaseModel

from imaging.canvas import (
    CanvasError,
    Compositor,
    Outpaint,
    Region,
    Upscaler,
    box_mask,
    mask_from_upload,
    pan_canvas,
    zoom_canvas,
)
from imaging.engine import ImageRequest, ImageResult
from imaging.engines.registry import EngineSet, NamedEngine
from imaging.jobs import Quotas
from imaging.store import decode_stored
from imaging.uploads import UploadError, open_upload
from tools.base import ToolArgsError, ToolContext, ToolResult, ToolSpec
from tools.canvas_args import (
    PAN_SPEC,
    REGION_EDIT_SPEC,
    ZOOM_OUT_SPEC,
    PanArgs,
    RegionEditArgs,
    ZoomOutArgs,
)
from tools.engine_plan import check_operation, plan_for, resolve, steps_for
from tools.image import GenerateImageTool, finish

DEFAULT_MAX_UPSCALE_SIDE = 2048
NOT_A_MASK = ("That mask is not a picture I can read: send a PNG the size of the picture, "
              "white (or opaque) where it should change.")
GONE = "that image is no longer available; make a new one"


def multiple_of_8(size: tuple[int, int]) -> tuple[int, int]:
    """What a latent-diffusion engine draws for a canvas of `size` (it is resized back)."""
    return max(8, round(size[0] / 8) * 8), max(8, round(size[1] / 8) * 8)


class Canvas:
    """What the canvas tools share: the image tool (runner, store, limits, image check,
    stamp), every named engine (their capabilities are checked even when the deployment
    has one), the operator's upscaler model if any, the upscale cap, and the quotas an
    upscale that never reaches an engine is counted against."""

    def __init__(self, generate: GenerateImageTool, engines: EngineSet, *,
                 upscaler: Upscaler | None = None,
                 max_upscale_side: int = DEFAULT_MAX_UPSCALE_SIDE,
                 quotas: Quotas | None = None) -> None:
        self.generate = generate
        self.engines = engines
        self.upscaler = upscaler
        self.max_upscale_side = max_upscale_side
        self.quotas = quotas
        # One super-resolution run at a time: it takes a whole CPU (or a GPU's memory).
        self.upscaling = asyncio.Semaphore(1)

    def engine(self, ctx: ToolContext, operation: str) -> NamedEngine:
        """The engine this call goes to, once it is known to do `operation`."""
        named = self.engines.get(ctx.engine)
        if named is None:
            raise ToolArgsError(f"there is no engine called “{ctx.engine}”; `/models` lists them")
        check_operation(named, operation)
        return named

    async def source(self, image_id: str) -> tuple[bytes, Image.Image]:
        """The stored picture: its bytes (the manifest's parent) and its RGB pixels."""
        parent = await self.generate.store.read(image_id)
        picture = await decode_stored(parent)
        if parent is None or picture is None:
            raise ToolArgsError(GONE)
        return parent, picture.convert("RGB")

    def request(self, ctx: ToolContext, named: NamedEngine, *, prompt: str, size: tuple[int, int],
                init: Image.Image, seed: int | None, strength: float | None,
                mask: Image.Image | None = None) -> ImageRequest:
        width, height = named.capabilities.fit_size(*multiple_of_8(size))
        return ImageRequest(
            prompt=prompt, n=1, width=width, height=height,
            steps=steps_for(named, ctx.steps, self.generate.limits.steps),
            guidance_scale=named.engine.guidance_scale,
            seed=seed if seed is not None else secrets.randbelow(2**31),
            init_image=init, mask=mask, strength=strength)

    async def masked(self, ctx: ToolContext, named: NamedEngine, source: tuple[str, bytes], *,
                     prompt: str, canvas: Image.Image, mask: Image.Image, seed: int | None,
                     strength: float | None = None, notes: tuple[str, ...] = (),
                     outpaint: bool = False) -> ToolResult:
        """One masked job on `canvas`, composited back onto it, checked, stamped, stored.
        `source`: the stored picture's id and bytes (the job's and the manifest's parent);
        `outpaint`: the mask is new area (zoom, pan), whose seam is blended harder."""
        g = self.generate
        plan = plan_for(resolve(g.engines, ctx.engine))
        plan.notes.extend(notes)
        request = self.request(ctx, named, prompt=prompt, size=canvas.size, init=canvas,
                               seed=seed, strength=strength, mask=mask)
        # What compositing needs from the canvas and the mask alone is worked out in a
        # thread while the engine draws (a CPU engine leaves a core for it).
        prepared = asyncio.ensure_future(
            asyncio.to_thread(Compositor, canvas, mask, outpaint=outpaint))
        prepared.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            result = await g.submit(request, ctx, plan, parent_image=source[0])
        except BaseException:
            prepared.cancel()
            raise
        # Inside the mask the engine's picture; outside it, the canvas as it was.
        paste = await prepared
        pasted = await asyncio.to_thread(lambda: [paste.apply(drawn) for drawn in result.images])
        whole = ImageResult(request, pasted, result.seeds, result.revised_prompt)
        return finish(await g.deliver(whole, ctx, request, source[1]), result, plan)


def _area_mask(size: tuple[int, int], args: RegionEditArgs) -> tuple[Image.Image, bool]:
    """Blocking: the region's or the drawn mask's "L" mask at `size`, and whether a drawn
    mask had to be resized. CanvasError with words for the user."""
    if args.region is not None:
        return box_mask(size, Region.parse(args.region)), False
    assert args.mask_png is not None
    try:
        data = base64.b64decode(args.mask_png.split(",", 1)[-1], validate=True)
        drawn = open_upload(data)
        drawn.load()
    except (binascii.Error, ValueError, UploadError, OSError):
        raise CanvasError(NOT_A_MASK) from None
    return mask_from_upload(drawn, size)


class RegionEditTool:
    spec: ToolSpec = REGION_EDIT_SPEC

    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolResult:
        assert isinstance(args, RegionEditArgs)
        c = self.canvas
        named = c.engine(ctx, "inpaint")
        parent, picture = await c.source(args.image_id)
        try:
            mask, resized = await asyncio.to_thread(_area_mask, picture.size, args)
        except CanvasError as exc:
            raise ToolArgsError(str(exc)) from None
        notes = (f"Your mask was not the picture's size, so I resized it to "
                 f"{picture.width}x{picture.height}.",) if resized else ()
        return await c.masked(ctx, named, (args.image_id, parent), prompt=args.prompt,
                              canvas=picture, mask=mask, seed=args.seed,
                              strength=args.strength, notes=notes)


class _OutpaintTool:
    """Zoom out and pan: a larger (or shrunk-into) canvas whose new area is drawn."""

    def __init__(self, canvas: Canvas) -> None:
        self.canvas = canvas

    def layout(self, args: BaseModel, picture: Image.Image) -> Outpaint:
        raise NotImplementedError

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolResult:
        assert isinstance(args, (ZoomOutArgs, PanArgs))
        c = self.canvas
        named = c.engine(ctx, "outpaint")
        parent, picture = await c.source(args.image_id)
        try:
            out = await asyncio.to_thread(self.layout, args, picture)
        except CanvasError as exc:
            raise ToolArgsError(str(exc)) from None
        limit = c.generate.limits.max_side
        if max(out.size) > limit:
            raise ToolArgsError(f"that would make the picture {out.size[0]}x{out.size[1]}, "
                                f"above this server's {limit} px limit")
        return await c.masked(ctx, named, (args.image_id, parent), prompt=args.prompt,
                              canvas=out.canvas, mask=out.mask, seed=args.seed, outpaint=True)


class ZoomOutTool(_OutpaintTool):
    spec: ToolSpec = ZOOM_OUT_SPEC

    def layout(self, args: BaseModel, picture: Image.Image) -> Outpaint:
        assert isinstance(args, ZoomOutArgs)
        return zoom_canvas(picture, float(args.factor))


class PanTool(_OutpaintTool):
    spec: ToolSpec = PAN_SPEC

    def layout(self, args: BaseModel, picture: Image.Image) -> Outpaint:
        assert isinstance(args, PanArgs)
        return pan_canvas(picture, args.direction)
