"""Cheap previews: latents to RGB with one linear map, fitted to the model's own VAE.

Decoding the latents with the VAE at every step would cost about as much as a denoising
step on big models. The usual shortcut is a fixed latent->RGB matrix per model family
(SD 1.x/2.x, SDXL, SD3 and FLUX each have their own latent space). Rather than ship
borrowed matrices, easel fits that matrix once when the model loads: it encodes a few
synthetic colour fields with the model's VAE and solves a least-squares map from latent
pixels (as the pipeline holds them: shifted and scaled) to the colours they came from.
Any family works, the built-in demo model's 8-channel latents included, and the map is
exactly as good as a linear look at that latent space can be.

Half-way through, the latents are still mostly noise. `denoised` recovers the model's
current guess of the finished latents from the last two steps' latents and the
scheduler's noise levels (exact for DDIM and Euler-style samplers, close for multistep
ones), so a preview shows the picture the model is heading for, not the noise.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)

_FIT_IMAGES = 8
_FIT_LATENT_SIDE = 16  # latent pixels per side of each fitting image


class LatentPreviewer:
    def __init__(self, weights: np.ndarray) -> None:
        self.weights = weights  # (channels + 1, 3): latent channels and a bias -> RGB in 0..1

    @property
    def channels(self) -> int:
        return self.weights.shape[0] - 1

    @classmethod
    def fit(cls, vae: Any, seed: int = 0) -> LatentPreviewer:
        """Blocking (a few small VAE encodes): call it at load or warm-up."""
        import torch

        factor = 2 ** (len(vae.config.block_out_channels) - 1)
        side = _FIT_LATENT_SIDE * factor
        images = _colour_fields(_FIT_IMAGES, side, np.random.default_rng(seed))
        param = next(vae.parameters())
        x = torch.from_numpy(images * 2 - 1).permute(0, 3, 1, 2).to(param.device, param.dtype)
        with torch.inference_mode():
            z = vae.encode(x).latent_dist.mean.float()
        z = (z - float(getattr(vae.config, "shift_factor", None) or 0.0)) \
            * float(vae.config.scaling_factor)
        target = torch.from_numpy(images).permute(0, 3, 1, 2)
        target = torch.nn.functional.avg_pool2d(target, factor)  # the colour each latent pixel saw
        lat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1]).cpu().numpy()
        rgb = target.permute(0, 2, 3, 1).reshape(-1, 3).numpy()
        design = np.concatenate([lat, np.ones((lat.shape[0], 1), np.float32)], axis=1)
        weights, *_ = np.linalg.lstsq(design, rgb, rcond=None)
        return cls(weights.astype(np.float32))

    def __call__(self, latents: Any) -> list[Image.Image]:
        """(batch, channels, h, w) latents -> one small RGB image per row."""
        import torch

        with torch.inference_mode():
            lat = latents.detach().float()
            w = torch.from_numpy(self.weights).to(lat.device)
            rgb = torch.einsum("bchw,cr->bhwr", lat, w[:-1]) + w[-1]
            arr = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
        return [Image.fromarray(a, "RGB") for a in arr]


def _colour_fields(count: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """Blocks of random colour plus smooth gradients: every hue and brightness, with edges."""
    out = np.empty((count, side, side, 3), np.float32)
    for i in range(count):
        if i % 2 == 0:
            blocks = rng.random((4, 4, 3), dtype=np.float32)
            out[i] = np.kron(blocks, np.ones((side // 4, side // 4, 1), np.float32))
        else:
            ys, xs = np.mgrid[0:side, 0:side].astype(np.float32) / (side - 1)
            a, b, c = rng.random(3), rng.random(3), rng.random(3)
            out[i] = np.clip(a * xs[..., None] + b * ys[..., None] + c * 0.5, 0, 1)
    return out


def denoised(scheduler: Any, timestep: Any, previous: Any, latents: Any) -> Any:
    """The model's x0 guess, given the latents before and after the step at `timestep`.

    Every sampler here writes latents as x = a * x0 + b * noise for a noise level of its
    own (alpha schedulers: a = sqrt(alpha_bar), b = sqrt(1 - alpha_bar); sigma
    schedulers: a = 1, b = sigma; flow matching: a = 1 - sigma, b = sigma). Two steps
    that share one (x0, noise) guess give two equations, solved here for x0.
    """
    levels = _levels(scheduler, timestep)
    if levels is None or previous is None or previous.shape != latents.shape:
        return latents
    (a0, b0), (a1, b1) = levels
    det = a0 * b1 - a1 * b0
    if abs(det) < 1e-6:
        return latents
    return (b1 * previous.float() - b0 * latents.float()) / det


def _levels(scheduler: Any, timestep: Any) -> tuple[tuple[float, float], ...] | None:
    import torch

    steps = getattr(scheduler, "timesteps", None)
    if steps is None:
        return None
    hit = (steps == torch.as_tensor(timestep, dtype=steps.dtype)).nonzero()
    if not len(hit):
        return None
    k = int(hit[0][0])
    sigmas = getattr(scheduler, "sigmas", None)
    if sigmas is not None and len(sigmas) > k + 1:
        s0, s1 = float(sigmas[k]), float(sigmas[k + 1])
        if type(scheduler).__name__.startswith("FlowMatch"):
            return (1 - s0, s0), (1 - s1, s1)
        return (1.0, s0), (1.0, s1)
    cumprod = getattr(scheduler, "alphas_cumprod", None)
    if cumprod is None:
        return None
    ab0 = float(cumprod[int(steps[k])])
    ab1 = float(cumprod[int(steps[k + 1])]) if k + 1 < len(steps) else \
        float(getattr(scheduler, "final_alpha_cumprod", cumprod[0]))
    return (ab0 ** 0.5, (1 - ab0) ** 0.5), (ab1 ** 0.5, (1 - ab1) ** 0.5)


def unpack_latents(pipe: Any, latents: Any, height: int, width: int) -> Any:
    """FLUX keeps its latents packed in 2x2 patches while it denoises; unpack them."""
    if latents.ndim == 3 and hasattr(pipe, "_unpack_latents"):
        return pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)
    return latents
