"""The demo pipeline: a Stable-Diffusion-shaped pipeline small enough to train on a CPU.

64 px pictures, a 4x VAE (16x16x4 latents), a small UNet2DConditionModel that reads the
frozen MiniLM text encoder's 384-wide token embeddings, a v-prediction schedule with zero
terminal SNR (flat white or black backgrounds need the first step to start from pure
noise) and trailing timesteps (good pictures in 4-8 steps).

The model folder is a normal diffusers folder (model_index.json, unet/, vae/, scheduler/)
except that text_encoder/ and tokenizer/ are absent: they come from the pip package at
load time and are passed to `from_pretrained`, which is how diffusers takes components it
should not load itself.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from imaging.demo import DEMO_MARKER
from imaging.demo.text_encoder import HIDDEN_SIZE, PACKAGE, load_text_encoder, load_tokenizer
from imaging.demo.vocab import DATA_VERSION, DISPLAY_SIZE, NATIVE_SIZE

log = logging.getLogger(__name__)

MODEL_VERSION = 2  # 1 was the random-weights demo
# Guidance 3 draws shapes best; rescaling the guided prediction (0.7, as the zero-terminal-
# SNR paper advises) stops it from pushing colours off their hue (red towards orange).
RECOMMENDED = {"steps": 4, "guidance_scale": 3.0, "guidance_rescale": 0.7}
VAE_FACTOR = 4
LATENT_SIZE = NATIVE_SIZE // VAE_FACTOR
# 8 channels, not SD's 4: a 4x4 patch with an edge through it needs more than 4 numbers,
# and the less the VAE must compress, the faster it trains (minutes, here).
LATENT_CHANNELS = 8

SCHEDULE: dict[str, Any] = dict(
    num_train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085,
    beta_end=0.012, prediction_type="v_prediction", rescale_betas_zero_snr=True,
    timestep_spacing="trailing",
)


@contextmanager
def quiet(logger: str) -> Iterator[None]:
    """Silence one logger's warnings for a block (for known, deliberate cases only)."""
    target = logging.getLogger(logger)
    level = target.level
    target.setLevel(logging.ERROR)
    try:
        yield
    finally:
        target.setLevel(level)


UNET_VERSION = 2  # bump when build_unet changes: UNet checkpoints of another version are not resumed


def build_unet() -> Any:  # -> UNet2DConditionModel
    from diffusers import UNet2DConditionModel

    # Convolutions only at 16x16 (attention there tripled the step time on a CPU);
    # cross-attention at 8x8, where a thing is 2-4 cells wide, and at 4x4: that is where
    # each cell picks its words ("red" for the heart, "blue" for the background). The
    # pooled prompt is also added to the time embedding, and resnets apply that embedding
    # as scale-and-shift: multiplying features by the prompt lets a cell switch between
    # the thing's colour and the background's, which a plain added bias learns slowly.
    return UNet2DConditionModel(
        sample_size=LATENT_SIZE,
        in_channels=LATENT_CHANNELS,
        out_channels=LATENT_CHANNELS,
        block_out_channels=(32, 64, 96),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=HIDDEN_SIZE,
        attention_head_dim=8,
        norm_num_groups=16,
        addition_embed_type="text",
        addition_embed_type_num_heads=8,
        resnet_time_scale_shift="scale_shift",
    )


def build_vae() -> Any:  # -> AutoencoderKL
    from diffusers import AutoencoderKL

    # Three blocks = two downsamplings = a 4x latent. No attention in the mid block, so the
    # VAE is fully convolutional and trains on crops.
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32, 32),
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=LATENT_CHANNELS,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=NATIVE_SIZE,
        mid_block_add_attention=False,
    )


def build_train_scheduler() -> Any:
    from diffusers import DDPMScheduler

    return DDPMScheduler(**SCHEDULE, clip_sample=False)


def build_inference_scheduler() -> Any:
    from diffusers import DDIMScheduler

    # steps_offset only matters for "leading" spacing; 1 keeps diffusers from warning.
    return DDIMScheduler(**SCHEDULE, clip_sample=False, set_alpha_to_one=False, steps_offset=1)


def model_index() -> dict[str, Any]:
    import diffusers

    return {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": diffusers.__version__,
        "feature_extractor": [None, None],
        "image_encoder": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "DDIMScheduler"],
        # Not in the folder: passed in from the pip package (see demo_components).
        "text_encoder": ["transformers", "BertModel"],
        "tokenizer": ["transformers", "BertTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }


def save_model(path: Path, unet: Any, vae: Any, meta: dict[str, Any]) -> Path:
    """Write a loadable model folder: weights as fp16 safetensors (half the size; they are
    upcast on load), the scheduler, model_index.json and the demo marker."""
    import copy

    import torch

    path.mkdir(parents=True, exist_ok=True)
    for name, module in (("unet", unet), ("vae", vae)):
        with quiet("diffusers.models.modeling_utils"):  # "modules to keep in float32: []"
            half = copy.deepcopy(module).to("cpu", torch.float16)
        half.save_pretrained(str(path / name), safe_serialization=True)
    build_inference_scheduler().save_pretrained(str(path / "scheduler"))
    (path / "model_index.json").write_text(json.dumps(model_index(), indent=2) + "\n")
    marker = {"version": MODEL_VERSION, "weights": "trained", "data_version": DATA_VERSION,
              "native_size": NATIVE_SIZE, "display_size": DISPLAY_SIZE,
              "text_encoder": PACKAGE, "recommended": RECOMMENDED, **meta}
    (path / DEMO_MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    return path


def demo_components(dtype: Any = None) -> dict[str, Any]:
    """The components a trained demo folder leaves out, to pass to `from_pretrained`."""
    return {"text_encoder": load_text_encoder(dtype), "tokenizer": load_tokenizer()}


def load_demo_pipeline(path: Path | str, dtype: Any = None, device: str = "cpu") -> Any:
    """The trained demo model as a StableDiffusionPipeline, through `from_pretrained`."""
    import torch
    from diffusers import AutoPipelineForText2Image

    dtype = dtype or torch.float32
    components = demo_components(dtype)
    # diffusers warns that a StableDiffusionPipeline expects a CLIP text encoder; this one
    # is deliberate, so keep that line out of the log.
    with quiet("diffusers.pipelines.pipeline_utils"):
        pipe = AutoPipelineForText2Image.from_pretrained(
            str(path), dtype=dtype, local_files_only=True, **components)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)
