"""The diffusers engine: one loaded pipeline, called from a single worker thread.

`n` images of a request and compatible requests of other users share one pipeline call
(prompts repeated, one `torch.Generator` per image), so each image has its own seed and
can be reproduced alone later.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from PIL import Image

from imaging.demo import display_size as demo_sizes
from imaging.demo import recommended_settings, upscale
from imaging.engine import (
    EngineCapabilities,
    EngineIdentity,
    GenerationError,
    ImageRequest,
    ImageResult,
    Interrupted,
    StepCallback,
    StepInfo,
)
from imaging.engines.diffusers_loading import Pipeline
from imaging.engines.diffusers_loading import load_error as _load_error
from imaging.engines.diffusers_loading import pick_device as _pick_device
from imaging.engines.diffusers_loading import pick_dtype as _pick_dtype
from imaging.engines.diffusers_masked import INPAINT_MODEL, edit_call, masked_mode
from imaging.engines.previews import LatentPreviewer, denoised, unpack_latents
from imaging.engines.threaded import DeviceThread, ThreadedEngine

log = logging.getLogger(__name__)


def _accepts(pipe: Pipeline, name: str) -> bool:
    import inspect

    return name in inspect.signature(pipe.__call__).parameters


class DiffusersEngine(ThreadedEngine):
    """Text-to-image with a diffusers pipeline. `generate` blocks (the device thread);
    `agenerate` hops there."""

    def __init__(self, pipe: Pipeline, *, name: str, device: str,
                 default_steps: int = 4, guidance_scale: float = 0.0, max_batch_images: int = 8,
                 render_side: int | None = None,
                 display_size: tuple[int, int] | None = None,
                 guidance_rescale: float = 0.0, thread: DeviceThread | None = None) -> None:
        """`render_side`: a model that only draws at one scale (the built-in demo model:
        64 px) renders with that shorter side and its pictures are upscaled to the size
        asked for; `display_size` is then the default size people get. `guidance_rescale`
        tempers classifier-free guidance where the pipeline supports it (text-to-image)."""
        self.pipe = pipe
        self.name = name
        self.device = device
        self.default_steps = default_steps
        self.guidance_scale = guidance_scale
        self.max_batch_images = max_batch_images
        self.render_side = render_side
        # Only the built-in demo model draws at one scale.
        self.identity = EngineIdentity(model=name, device=device, demo=render_side is not None)
        self.thread = thread or DeviceThread(device)
        self.guidance_rescale = guidance_rescale
        # Checked once here, not per call: only some pipelines take guidance_rescale.
        self._rescale_t2i = bool(guidance_rescale) and _accepts(pipe, "guidance_rescale")
        self.default_size = display_size or self._native_size(pipe)
        self._twins: dict[bool, Any] = {}  # inpainting? -> the pipeline's twin
        self.previewer: LatentPreviewer | None = None
        self._preview_fitted = False
        self.masked_mode = masked_mode(pipe)  # see diffusers_masked.py
        masks = self.masked_mode is not None
        self.capabilities = EngineCapabilities(max_n=max_batch_images, inpaint=masks,
                                               outpaint=masks)

    @classmethod
    def load(cls, model: str, *, device: str = "auto", dtype: str = "auto",
             default_steps: int | None = None,
             guidance_scale: float | None = None, max_batch_images: int = 8,
             offline: bool = False) -> DiffusersEngine:
        """`offline`: only a local folder or the Hugging Face cache (HF_HUB_OFFLINE, which
        bot/app/settings.py reads; the engine never reads the environment itself)."""
        import torch
        from diffusers import AutoPipelineForText2Image
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging

        # Per-component progress bars are noise in a server log.
        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()

        path = Path(model).expanduser()
        looks_local = model.startswith((".", "/", "~")) or path.exists()
        if looks_local and not (path / "model_index.json").is_file():
            raise _load_error(model, FileNotFoundError(f"no model_index.json in {path}"), offline)
        dev = _pick_device(device)
        if dev == "cpu":
            # Leave a core to the event loop (acknowledgements, HTTP) while torch computes.
            cores = os.cpu_count() or 1
            if cores > 1 and torch.get_num_threads() >= cores:
                torch.set_num_threads(cores - 1)
        torch_dtype = _pick_dtype(dtype, dev, model)
        demo = demo_sizes(path) if looks_local else None
        try:
            if demo is not None:
                # The trained demo model leaves its text encoder to a pip package.
                # lazy: only the built-in demo model needs its pipeline
                from imaging.demo.model import load_demo_pipeline

                pipe = load_demo_pipeline(path, dtype=torch_dtype)
            else:
                pipe = AutoPipelineForText2Image.from_pretrained(
                    str(path) if looks_local else model,
                    dtype=torch_dtype,
                    local_files_only=offline or looks_local,
                )
        except (OSError, ValueError) as exc:
            raise _load_error(model, exc, offline) from exc
        except Exception as exc:  # hub / network errors come in many types
            raise _load_error(model, exc, offline) from exc
        pipe = pipe.to(dev)
        pipe.set_progress_bar_config(disable=True)
        if hasattr(pipe, "safety_checker"):
            # The gate (safety/) checks every image; diffusers' checker would blank images
            # silently instead of telling the user.
            pipe.safety_checker = None
        # A demo model says what it was evaluated with; an operator's settings still win.
        recommended = recommended_settings(path) if demo is not None else {}
        steps = default_steps or int(recommended.get("steps", 4))
        if guidance_scale is None:
            guidance_scale = float(recommended.get("guidance_scale", 0.0))
        log.info("loaded image model %s on %s (%s), %d steps, guidance %.1f",
                 model, dev, str(torch_dtype).removeprefix("torch."), steps, guidance_scale)
        return cls(pipe, name=model, device=dev, default_steps=steps,
                   guidance_scale=guidance_scale, max_batch_images=max_batch_images,
                   render_side=demo[0] if demo else None,
                   display_size=(demo[1], demo[1]) if demo else None,
                   guidance_rescale=float(recommended.get("guidance_rescale", 0.0)))

    @staticmethod
    def _native_size(pipe: Any) -> tuple[int, int]:
        scale = int(getattr(pipe, "vae_scale_factor", 8) or 8)
        sample = None
        if getattr(pipe, "unet", None) is not None:
            sample = pipe.unet.config.sample_size
        elif getattr(pipe, "default_sample_size", None):
            sample = pipe.default_sample_size
        if isinstance(sample, (list, tuple)):
            sample = sample[0]
        side = int(sample) * scale if sample else 512
        return side, side

    def render_size(self, width: int, height: int) -> tuple[int, int]:
        """The size the pipeline draws for a (width, height) request: the request itself,
        or for a one-scale model its aspect with the shorter side at `render_side`
        (rounded to 16 px, which its VAE and UNet need)."""
        if self.render_side is None:
            return width, height
        short = min(width, height)

        def side(v: int) -> int:
            return max(16, round(v * self.render_side / short / 16) * 16)  # type: ignore[operator]

        return side(width), side(height)

    def warm_up(self) -> None:
        """One tiny generation at start-up: the first call pays for lazy initialisation
        (kernels, allocator, caches), which would otherwise land on the first user."""
        w, h = self.default_size
        side = max(64, min(w, h) // 4 // 8 * 8)
        if self.render_side is not None:
            side = self.default_size[0]
        started = time.perf_counter()
        self.generate([req := ImageRequest("warm-up", width=side, height=side, steps=1,
                                           guidance_scale=self.guidance_scale)])
        self.warm_up_timing = (req, time.perf_counter() - started)  # the first ETAs' speed
        self._fit_previewer()

    def _fit_previewer(self) -> LatentPreviewer | None:
        if not self._preview_fitted:
            self._preview_fitted = True
            try:
                self.previewer = LatentPreviewer.fit(self.pipe.components["vae"])
            except Exception:  # an exotic VAE: no previews, still pictures
                log.warning("no previews for %s: the latent map could not be fitted",
                            self.name, exc_info=True)
        return self.previewer

    def previews(self, pipe: Any, timestep: Any, previous: Any, latents: Any, height: int,
                 width: int) -> list[Image.Image] | None:
        """Engine thread: a cheap look at the batch so far (see imaging/engines/previews.py)."""
        previewer = self._fit_previewer()
        if previewer is None or latents is None or previous is None:
            return None  # after the first step the latents are still noise: nothing to show
        guess = denoised(pipe.scheduler, timestep, previous, latents)
        guess = unpack_latents(pipe, guess, height, width)
        return previewer(guess) if guess.shape[1] == previewer.channels else None

    def twin(self, inpaint: bool = False) -> Any:
        """The image-to-image (or inpainting) twin of the loaded pipeline, sharing its
        weights (no second copy in memory), built on first use."""
        if inpaint not in self._twins:
            from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

            auto = AutoPipelineForInpainting if inpaint else AutoPipelineForImage2Image
            self._twins[inpaint] = auto.from_pipe(self.pipe)
            self._twins[inpaint].set_progress_bar_config(disable=True)
        return self._twins[inpaint]

    def generate(self, reqs: list[ImageRequest], on_step: StepCallback | None = None
                 ) -> list[ImageResult]:
        """All `reqs` must share a batch key; they run as one pipeline call."""
        import torch

        if not reqs:
            return []
        first = reqs[0]
        if any(r.batch_key() != first.batch_key() for r in reqs):
            raise GenerationError("requests in one batch must share size, steps and guidance")
        if first.is_masked and self.masked_mode is None:
            raise GenerationError(f"{self.name} cannot redraw part of a picture")
        prompts: list[str] = []
        negatives: list[str] = []
        generators: list[torch.Generator] = []
        seeds_per_req: list[list[int]] = []
        gen_device = "cpu" if self.device == "mps" else self.device
        for r in reqs:
            seeds = [(r.seed + i) % (2**32) for i in range(r.n)]
            seeds_per_req.append(seeds)
            for s in seeds:
                prompts.append(r.prompt)
                negatives.append(r.negative_prompt or "")
                generators.append(torch.Generator(device=gen_device).manual_seed(s))
        render_w, render_h = self.render_size(first.width, first.height)
        total, pipe, edit = first.steps, self.pipe, None
        if first.is_edit or self.masked_mode == INPAINT_MODEL:
            edit = edit_call(reqs, (render_w, render_h), self.masked_mode,
                             [s for seeds in seeds_per_req for s in seeds])
            total = edit.total
            pipe = self.twin(edit.inpaint)
        blend = edit.blend if edit is not None else None

        seen: list[Any] = [None]  # the latents before this step, for the x0 guess

        def _on_step_end(pipe: Any, step: int, timestep: Any, kwargs: dict) -> dict:
            latents, previous = kwargs.get("latents"), seen[0]
            if blend is not None and latents is not None:
                # The preview reads the step's own output; the next step starts blended.
                kwargs["latents"] = blend(pipe, step, timestep, latents)
            seen[0] = kwargs.get("latents")
            if on_step is not None:
                on_step(StepInfo(step + 1, total, lambda: self.previews(
                    pipe, timestep, previous, latents, render_h, render_w)))
            return kwargs

        call: dict[str, Any] = dict(
            prompt=prompts,
            num_inference_steps=first.steps,
            guidance_scale=first.guidance_scale,
            generator=generators,
            callback_on_step_end=_on_step_end,
        )
        if edit is not None:
            call.update(edit.kwargs)
        else:
            call.update(width=render_w, height=render_h)
            if self._rescale_t2i and first.guidance_scale > 1.0:
                call["guidance_rescale"] = self.guidance_rescale
        if first.negative_prompt is not None and first.guidance_scale > 1.0:
            call["negative_prompt"] = negatives
        try:
            with torch.inference_mode():
                out = pipe(**call)
        except Interrupted:
            raise  # every job of the batch was cancelled: not a failure
        except torch.cuda.OutOfMemoryError as exc:
            raise GenerationError("the GPU ran out of memory; try fewer or smaller images") from exc
        except Exception as exc:
            log.exception("pipeline call failed")
            raise GenerationError(f"the image model failed ({type(exc).__name__})") from exc
        images = list(out.images)
        if (render_w, render_h) != (first.width, first.height):
            images = [upscale(im, (first.width, first.height)) for im in images]
        results: list[ImageResult] = []
        at = 0
        for r, seeds in zip(reqs, seeds_per_req, strict=True):
            results.append(ImageResult(request=r, images=images[at:at + r.n], seeds=seeds))
            at += r.n
        return results
