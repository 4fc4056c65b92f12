"""Upscaling: a super-resolution model file run through spandrel, and the size checks.

spandrel (the loader ComfyUI uses) recognises ESRGAN, RealESRGAN Compact, SwinIR, HAT,
DAT, SPAN and many more from the weights alone, so an operator points easel at a .pth or
.safetensors file and nothing else. `upscale` blocks (torch on the CPU or the device):
callers run it in a thread. Large pictures go through in overlapping tiles, so memory is
bounded by the tile, not the picture.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from imaging.canvas.errors import CanvasError
from imaging.canvas.spandrel_compat import import_spandrel
from imaging.canvas.tiles import blend_tiles, hires_tiles

log = logging.getLogger(__name__)

UPSCALE_FACTORS = (2, 4)


class Upscaler(Protocol):
    """A picture in, the same picture `scale` times larger out (blocking)."""

    scale: int

    def upscale(self, image: Image.Image) -> Image.Image: ...


class UpscalerLoadError(CanvasError):
    """The model file could not be used; the message tells the operator why."""


class SpandrelUpscaler:
    """A super-resolution model loaded by spandrel. `tile`: the largest side run at once
    (input pixels); `overlap`: what neighbouring tiles share, blended away."""

    def __init__(self, descriptor: Any, *, name: str, device: str = "cpu",
                 tile: int = 512, overlap: int = 32) -> None:
        self.descriptor = descriptor
        self.name = name
        self.device = device
        self.scale: int = int(descriptor.scale)
        self.tile = tile
        self.overlap = overlap

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", *, tile: int = 512,
             overlap: int = 32) -> SpandrelUpscaler:
        """Load a .pth / .safetensors super-resolution model; UpscalerLoadError when the
        file is missing, unreadable, not a known architecture, or not an RGB upscaler."""
        path = Path(path).expanduser()
        if not path.is_file():
            raise UpscalerLoadError(f"No upscaler model file at {path}.")
        try:
            spandrel = import_spandrel()
        except ImportError as exc:
            raise UpscalerLoadError("Upscaling needs spandrel: pip install --no-deps "
                                    f"'spandrel>=0.4.2' einops ({exc}).") from exc
        try:
            descriptor = spandrel.ModelLoader(device=device).load_from_file(str(path))
        except Exception as exc:  # spandrel raises ValueError, UnsupportedModelError, ...
            raise UpscalerLoadError(f"Could not load the upscaler model {path.name}: {exc}"
                                    ) from exc
        if not isinstance(descriptor, spandrel.ImageModelDescriptor):
            raise UpscalerLoadError(f"{path.name} is a {descriptor.architecture.name} model "
                                    "that needs a mask; an upscaler takes a picture alone.")
        if descriptor.input_channels != 3 or descriptor.output_channels != 3:
            raise UpscalerLoadError(f"{path.name} is not an RGB model ({descriptor.input_channels}"
                                    f" channels in, {descriptor.output_channels} out).")
        if descriptor.scale < 2:
            raise UpscalerLoadError(f"{path.name} is a {descriptor.scale}x restoration model, "
                                    "not an upscaler.")
        descriptor.eval()
        log.info("loaded upscaler %s: %s, %dx, on %s", path.name,
                 descriptor.architecture.name, descriptor.scale, device)
        return cls(descriptor, name=path.name, device=device, tile=tile, overlap=overlap)

    def _run(self, image: Image.Image) -> Image.Image:
        import torch

        pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        tensor = torch.from_numpy(pixels).permute(2, 0, 1).unsqueeze(0)
        tensor = tensor.to(device=self.descriptor.device, dtype=self.descriptor.dtype)
        with torch.inference_mode():
            out = self.descriptor(tensor)
        array = out.squeeze(0).permute(1, 2, 0).float().cpu().numpy()
        return Image.fromarray(np.rint(array * 255.0).astype(np.uint8), "RGB")

    def upscale(self, image: Image.Image) -> Image.Image:
        """`image` (any mode; RGB out) `scale` times larger each way."""
        w, h = image.size
        internal = getattr(self.descriptor.tiling, "name", "") == "INTERNAL"
        if internal or max(w, h) <= self.tile:
            return self._run(image)
        s = self.scale
        pieces = [((x0 * s, y0 * s, x1 * s, y1 * s), self._run(image.crop((x0, y0, x1, y1))))
                  for x0, y0, x1, y1 in hires_tiles((w, h), self.tile, self.overlap)]
        return blend_tiles((w * s, h * s), pieces, self.overlap * s)


def upscale_plan(size: tuple[int, int], factor: int, max_side: int) -> tuple[int, int]:
    """The size `factor` (2 or 4) makes of `size`; CanvasError, in words for the user,
    when the factor is not offered or the result would pass `max_side`."""
    if factor not in UPSCALE_FACTORS:
        raise CanvasError("Upscaling works by 2x or 4x.")
    w, h = size
    out = (w * factor, h * factor)
    if max(out) > max_side:
        fits = [f for f in UPSCALE_FACTORS if f < factor and max(w, h) * f <= max_side]
        hint = f"; {fits[-1]}x would fit" if fits else ""
        raise CanvasError(f"Upscaling {w}x{h} by {factor}x would give {max(out)} px, above "
                          f"this server's {max_side} px limit{hint}.")
    return out


def upscale_to(upscaler: Upscaler, image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`image` at `size` (from `upscale_plan`): the model's passes until both sides reach
    it (a 2x model runs twice for 4x), then Lanczos to the exact size (a 4x model asked
    for 2x is scaled down)."""
    if upscaler.scale < 2:
        raise CanvasError("This upscaler does not enlarge pictures.")
    out = image.convert("RGB")
    while out.width < size[0] or out.height < size[1]:
        out = upscaler.upscale(out)
    return out if out.size == size else out.resize(size, Image.Resampling.LANCZOS)
