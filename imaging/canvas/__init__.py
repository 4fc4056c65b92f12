"""The pure image side of the canvas tools (region edit, zoom out, pan, upscale): regions
and masks, outpainting canvases, compositing, tiling and super-resolution. Everything
here blocks (numpy, PIL, torch): callers run it in a thread.

Masks are mode "L", the picture's size, 255 where the engine redraws and 0 where it keeps,
as `ImageRequest(init_image=canvas, mask=mask)` takes them.
"""

from __future__ import annotations

from imaging.canvas.detail import keep_source_scale
from imaging.canvas.errors import CanvasError
from imaging.canvas.geometry import (
    GRID_CELLS,
    Box,
    GridCell,
    Region,
    WordRegion,
    box_mask,
    grid_mask,
    grid_region,
    region_from_words,
)
from imaging.canvas.masks import Compositor, composite, feather_alpha, mask_from_upload
from imaging.canvas.outpaint import Outpaint, pan_canvas, zoom_canvas
from imaging.canvas.tiles import blend_tiles, hires_tiles
from imaging.canvas.upscale import (
    SpandrelUpscaler,
    Upscaler,
    UpscalerLoadError,
    upscale_plan,
    upscale_to,
)

__all__ = [
    "GRID_CELLS", "Box", "CanvasError", "Compositor", "GridCell", "Outpaint", "Region",
    "SpandrelUpscaler",
    "Upscaler", "UpscalerLoadError", "WordRegion", "blend_tiles", "box_mask", "composite",
    "feather_alpha", "grid_mask", "grid_region", "hires_tiles", "keep_source_scale",
    "mask_from_upload",
    "pan_canvas", "region_from_words", "upscale_plan", "upscale_to", "zoom_canvas",
]
