"""Edits and masked edits (inpainting, outpainting) on the diffusers engine's pipeline.

Every edit runs through a twin of the loaded pipeline made by `from_pipe` (the same
weights, no second copy). A masked edit takes one of two roads, chosen once per model:

- `INPAINT_MODEL`: a checkpoint trained for inpainting (its UNet reads 9 channels: the
  latents, the mask and the masked picture's latents) goes through diffusers' inpainting
  pipeline. Such a UNet cannot run the plain pipelines at all, so its text-to-image and
  plain edits go there too (a blank picture under a full mask, or a full mask).
- `BLEND`: every ordinary UNet checkpoint (the demo model too) runs image-to-image with
  latent blending ("blended latent diffusion"): after each step, the latents outside the
  mask are replaced by the source picture's latents noised to where the sampler now is,
  so only the masked part is ever drawn, and it is drawn to fit what surrounds it.
- `INPAINT_TWIN`: a transformer model (FLUX, SD3, ...) whose family has an inpainting
  pipeline in diffusers: masked edits go there (those pipelines blend latents themselves).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from PIL import Image

from imaging.engine import ImageRequest

INPAINT_MODEL, BLEND, INPAINT_TWIN = "inpaint-model", "blend", "inpaint-twin"
DEFAULT_EDIT_STRENGTH = 0.5


def masked_mode(pipe: Any) -> str | None:
    """How this pipeline does masked edits (None: it cannot)."""
    unet = getattr(pipe, "unet", None)
    if unet is not None:
        return INPAINT_MODEL if int(unet.config.in_channels) == 9 else BLEND
    return INPAINT_TWIN if _has_inpaint_twin(pipe) else None


def _has_inpaint_twin(pipe: Any) -> bool:
    try:
        from diffusers.pipelines import auto_pipeline as auto
    except ImportError:
        return False
    name = type(pipe).__name__
    for mapping in (auto.AUTO_TEXT2IMAGE_PIPELINES_MAPPING,
                    auto.AUTO_IMAGE2IMAGE_PIPELINES_MAPPING, auto.AUTO_INPAINT_PIPELINES_MAPPING):
        for family, cls in mapping.items():
            if cls.__name__ == name:
                return family in auto.AUTO_INPAINT_PIPELINES_MAPPING
    return False


def fit_picture(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A source picture at the size the pipeline draws."""
    image = image.convert("RGB")
    if image.size == size:
        return image
    # BOX, not Lanczos, when shrinking a lot (a demo model's 256 px picture back to its
    # 64 px): it averages, so no ringing reaches the latents.
    shrink = image.width > 2 * size[0]
    return image.resize(size, Image.Resampling.BOX if shrink else Image.Resampling.LANCZOS)


def fit_mask(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    # Bilinear or box: a mask edge lands between pixels as a grey, never as ringing.
    if mask.size == size:
        return mask
    shrink = mask.width > 2 * size[0]
    return mask.resize(size, Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR)


@dataclass(slots=True)
class EditCall:
    kwargs: dict[str, Any]  # added to the pipeline call
    total: int  # the denoising steps it really runs (the progress bar's length)
    inpaint: bool  # through the inpainting twin (else the image-to-image twin)
    blend: LatentBlend | None = None


def edit_call(reqs: list[ImageRequest], render: tuple[int, int], mode: str | None,
              seeds: list[int]) -> EditCall:
    """The pipeline arguments of a batch of edits (all sharing a batch key), or of any
    batch on an inpainting model. `seeds`: one per image, in order."""
    first = reqs[0]
    default = 1.0 if first.is_masked or not first.is_edit else DEFAULT_EDIT_STRENGTH
    strength = min(1.0, max(0.05, first.strength if first.strength is not None else default))
    # Image-to-image runs only steps x strength denoising steps; ask for more so that an
    # edit gets about as many real steps as a fresh image.
    call_steps = max(first.steps, math.ceil(first.steps / strength))
    total = max(1, int(call_steps * strength))
    inits: list[Image.Image] = []
    masks: list[Image.Image] = []
    for r in reqs:
        init = fit_picture(r.init_image, render) if r.init_image is not None else \
            Image.new("RGB", render, (127, 127, 127))
        # No mask on an inpainting model: redraw it all (a plain edit or a new picture).
        mask = fit_mask(r.mask, render) if r.mask is not None else Image.new("L", render, 255)
        inits.extend([init] * r.n)
        masks.extend([mask] * r.n)
    kwargs: dict[str, Any] = dict(image=inits, strength=strength, num_inference_steps=call_steps)
    if mode == INPAINT_MODEL or (mode == INPAINT_TWIN and first.is_masked):
        kwargs.update(mask_image=masks, width=render[0], height=render[1])
        return EditCall(kwargs, total, inpaint=True)
    blend = LatentBlend(inits, masks, seeds) if first.is_masked else None
    return EditCall(kwargs, total, inpaint=False, blend=blend)


class LatentBlend:
    """Blended latent diffusion, as a step callback: after step i, the latents outside the
    mask become the source's latents noised to the level of step i + 1 (clean after the
    last step). The same rule diffusers' inpainting pipeline applies to 4-channel UNets."""

    def __init__(self, inits: list[Image.Image], masks: list[Image.Image],
                 seeds: list[int]) -> None:
        self.inits = inits
        self.masks = masks
        self.seeds = seeds
        self._known: Any = None  # the source's clean latents
        self._noise: Any = None
        self._mask: Any = None  # at latent size: 1 = redraw
        self._offset: int | None = None  # where the call's first step sits in the schedule

    def __call__(self, pipe: Any, step: int, timestep: Any, latents: Any) -> Any:
        """Called in the pipeline's own step callback (inference mode, engine thread)."""
        import torch

        if self._known is None:
            self._prepare(pipe, latents)
        schedule = pipe.scheduler.timesteps
        if self._offset is None:
            # img2img starts part-way into the schedule (strength); find where.
            hits = (schedule == torch.as_tensor(timestep, dtype=schedule.dtype)).nonzero()
            # Not in the schedule (an exotic sampler): hold the outside at the clean source.
            self._offset = int(hits[0][0]) if len(hits) else len(schedule)
        after = self._offset + step + 1
        known = self._known
        if after < len(schedule):
            known = pipe.scheduler.add_noise(self._known, self._noise, schedule[after:after + 1])
        return self._mask * latents + (1 - self._mask) * known

    def _prepare(self, pipe: Any, latents: Any) -> None:
        import torch

        lat_h, lat_w = latents.shape[-2:]
        scale = int(getattr(pipe, "vae_scale_factor", 8) or 8)
        self._known = encode(pipe, self.inits, lat_h * scale, lat_w * scale).to(
            latents.device, latents.dtype)
        # CPU generators, one per image: the same noise on every device, and the
        # pipeline's own generators are left untouched.
        self._noise = torch.stack([
            torch.randn(tuple(latents.shape[1:]), generator=torch.Generator("cpu").manual_seed(s))
            for s in self.seeds]).to(latents.device, latents.dtype)
        masks = torch.stack([torch.from_numpy(_array(m)) for m in self.masks])[:, None]
        # Max-pooling: a latent pixel is redrawn if any pixel it covers is, so nothing
        # that should change is held back by its neighbours (compositing keeps the rest).
        self._mask = torch.nn.functional.adaptive_max_pool2d(masks, (lat_h, lat_w)).to(
            latents.device, latents.dtype)


def _array(mask: Image.Image) -> Any:
    import numpy as np

    return np.asarray(mask, dtype=np.float32) / 255.0


def encode(pipe: Any, images: list[Image.Image], height: int, width: int) -> Any:
    """The pictures' latents, scaled as the image-to-image pipeline scales them (the
    distribution's mean: the closest latents to the picture, with no noise of their own)."""
    import torch

    vae = pipe.vae
    pixels = pipe.image_processor.preprocess(images, height=height, width=width)
    # SDXL's VAE overflows in fp16 (its config says so); the pipelines upcast it to encode.
    upcast = vae.dtype == torch.float16 and bool(getattr(vae.config, "force_upcast", False))
    if upcast:
        _cast(vae, torch.float32)
    try:
        param = next(vae.parameters())
        latents = vae.encode(pixels.to(param.device, param.dtype)).latent_dist.mean
    finally:
        if upcast:
            _cast(vae, torch.float16)
    mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
    scaling = float(vae.config.scaling_factor)
    if mean is not None and std is not None:
        shape = (1, latents.shape[1], 1, 1)
        mean_t = torch.tensor(mean).view(shape).to(latents.device, latents.dtype)
        std_t = torch.tensor(std).view(shape).to(latents.device, latents.dtype)
        return (latents - mean_t) * scaling / std_t
    return latents * scaling


def _cast(vae: Any, dtype: Any) -> None:
    # diffusers warns at every cast of a model; this one is deliberate and undone at once.
    logger = logging.getLogger("diffusers.models.modeling_utils")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        vae.to(dtype)
    finally:
        logger.setLevel(level)
