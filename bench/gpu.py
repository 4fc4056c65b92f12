"""GPU benchmark: an image turn end to end, with all safety gates, against a bare pipeline call.

    python -m bench.gpu [--models sd-turbo,sdxl-turbo] [--runs 10] [--steps 1] [--size 512]

Pipelines are built in code with random weights from the public configs of
stabilityai/sd-turbo and stabilityai/sdxl-turbo (model_index, unet, vae, text encoders,
scheduler): nothing is downloaded, and the speed of a forward pass does not depend on the
weights.  The tokenizers are byte-level stand-ins (prompts are padded to CLIP's 77 tokens
either way, so the text encoders do the same work).  Per model it measures, median of
`--runs` after warm-up:
- the bare pipeline call (`pipe(prompt, ...)`, PIL out), the floor;
- an image turn through easel's assistant (`/imagine --raw`, a new text each run), with the
  gate off (`dangerously_disable_safety`), and with all three checkpoints (text gate on the
  CPU, NudeNet on CUDA when onnxruntime-gpu is installed);
and prints the ratios the issue targets (all gates / bare <= 1.10, all gates / gate off <= 1.05).
Without a CUDA device it says so and exits (status 0).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger("bench.gpu")

CLIP_VOCAB = 49408
SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                 num_train_timesteps=1000, prediction_type="epsilon", steps_offset=1,
                 timestep_spacing="trailing", clip_sample=False, set_alpha_to_one=False)
VAE = dict(act_fn="silu", block_out_channels=[128, 256, 512, 512], in_channels=3, out_channels=3,
           down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
           latent_channels=4, layers_per_block=2, norm_num_groups=32)
# stabilityai/sd-turbo (SD 2.1 architecture at 512 px, OpenCLIP ViT-H/14 text tower).
SD_TURBO: dict[str, Any] = {
    "unet": dict(act_fn="silu", attention_head_dim=[5, 10, 20, 20], block_out_channels=[320, 640, 1280, 1280],
                 cross_attention_dim=1024, down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
                 up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3, downsample_padding=1,
                 flip_sin_to_cos=True, freq_shift=0, in_channels=4, out_channels=4, layers_per_block=2,
                 norm_eps=1e-5, norm_num_groups=32, sample_size=64, use_linear_projection=True),
    "vae": dict(VAE, sample_size=768, scaling_factor=0.18215),
    "text_encoder": dict(hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
                         num_hidden_layers=23, hidden_act="gelu", projection_dim=512),
    "scheduler": ("EulerDiscreteScheduler", dict(SCHEDULER, interpolation_type="linear")),
}
# stabilityai/sdxl-turbo (SDXL base architecture at 512 px, CLIP ViT-L + OpenCLIP bigG).
SDXL_TURBO: dict[str, Any] = {
    "unet": dict(act_fn="silu", addition_embed_type="text_time", addition_embed_type_num_heads=64,
                 addition_time_embed_dim=256, attention_head_dim=[5, 10, 20],
                 block_out_channels=[320, 640, 1280], cross_attention_dim=2048,
                 down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                 up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
                 flip_sin_to_cos=True, freq_shift=0, in_channels=4, out_channels=4, layers_per_block=2,
                 norm_eps=1e-5, norm_num_groups=32, projection_class_embeddings_input_dim=2816,
                 sample_size=64, transformer_layers_per_block=[1, 2, 10], use_linear_projection=True),
    "vae": dict(VAE, sample_size=1024, scaling_factor=0.13025, force_upcast=True),
    "text_encoder": dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                         num_hidden_layers=12, hidden_act="quick_gelu", projection_dim=768),
    "text_encoder_2": dict(hidden_size=1280, intermediate_size=5120, num_attention_heads=20,
                           num_hidden_layers=32, hidden_act="gelu", projection_dim=1280),
    "scheduler": ("EulerAncestralDiscreteScheduler", SCHEDULER),
}
MODELS = {"sd-turbo": SD_TURBO, "sdxl-turbo": SDXL_TURBO}


def byte_level_tokenizer(tmp: Path) -> Any:
    """A CLIP tokenizer whose vocabulary is the 256 byte symbols (no merges): any text
    tokenizes, and pipelines pad it to 77 tokens like the real one."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    symbols = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {s: i for i, s in enumerate(symbols + [s + "</w>" for s in symbols])}
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    (tmp / "vocab.json").write_text(json.dumps(vocab))
    (tmp / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(tmp / "vocab.json"), str(tmp / "merges.txt"), model_max_length=77)


def build_pipeline(name: str, tmp: Path, device: str = "cuda") -> Any:
    """Random weights, real shapes, float16 on CUDA (created there: initialising SDXL's UNet
    on the CPU takes minutes).  `device="cpu"` (float32) is for checking the wiring only."""
    import diffusers
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    spec = MODELS[name]
    tokenizer = byte_level_tokenizer(tmp)
    ids = dict(bos_token_id=len(tokenizer) - 2, eos_token_id=len(tokenizer) - 1, pad_token_id=len(tokenizer) - 1,
               vocab_size=CLIP_VOCAB, max_position_embeddings=77, layer_norm_eps=1e-5)
    torch.manual_seed(0)
    with torch.device(device):
        unet = diffusers.UNet2DConditionModel(**spec["unet"])
        vae = diffusers.AutoencoderKL(**spec["vae"])
        text_encoder = CLIPTextModel(CLIPTextConfig(**spec["text_encoder"], **ids))
        parts: dict[str, Any] = {}
        if "text_encoder_2" in spec:
            parts["text_encoder_2"] = CLIPTextModelWithProjection(CLIPTextConfig(**spec["text_encoder_2"], **ids))
            parts["tokenizer_2"] = tokenizer
    scheduler_class, scheduler_config = spec["scheduler"]
    # from_config, like from_pretrained: it ignores keys a scheduler class does not take.
    scheduler = getattr(diffusers, scheduler_class).from_config(scheduler_config)
    if "text_encoder_2" in spec:
        pipe = diffusers.StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                                   unet=unet, scheduler=scheduler, **parts)
    else:
        pipe = diffusers.StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                                 unet=unet, scheduler=scheduler, safety_checker=None,
                                                 feature_extractor=None, requires_safety_checker=False)
    pipe = pipe.to(device, torch.float16 if device == "cuda" else torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def timed(fn: Any, runs: int, warm: int = 2) -> list[float]:
    import torch

    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for _ in range(warm):
        fn()
    out = []
    for _ in range(runs):
        sync()
        start = time.perf_counter()
        fn()
        sync()  # the PIL output already waits for the GPU; this makes it explicit
        out.append(time.perf_counter() - start)
    return out


async def turn_times(engine: Any, runs: int, data_dir: Path, *, gate_on: bool) -> tuple[list[float], str]:
    """`/imagine --raw` through the assistant: checkpoint 1, 2 (a cache hit for raw
    prompts), the job runner, the engine, checkpoint 3 and storing, as a channel sees it."""
    from bot.app.services import build_services
    from bot.app.settings import Settings
    from bot.turn import ReplyKind, Turn

    settings = Settings(data_dir=data_dir, dangerously_disable_safety=not gate_on, quota_concurrent_jobs=0)
    services = build_services(settings, engine)
    await services.gate.warm_up()
    out: list[float] = []
    try:
        for i in range(runs + 2):  # two warm-up turns
            text = f"/imagine --raw --seed {i} a red apple on a wooden table, photo {i} ({gate_on})"
            start = time.perf_counter()
            response = await services.assistant.respond(Turn("web", "bench-gpu", "bench", text))
            if response.followup is None:
                raise RuntimeError(f"no image job for {text!r}: {response.immediate}")
            reply = await response.followup(None)
            if reply.kind is not ReplyKind.IMAGES and not reply.withheld:
                raise RuntimeError(f"turn failed: {reply.kind} {reply.text}")
            if i >= 2:
                out.append(time.perf_counter() - start)
        image = getattr(getattr(services.gate, "gate", services.gate), "image_classifier", None)
        where = ", ".join(getattr(image, "providers", []) or ["-"])
    finally:
        await services.aclose()
    return out, where


def bench_model(name: str, args: argparse.Namespace, tmp: Path) -> tuple[str, ...]:
    from imaging.engines.diffusers import DiffusersEngine

    engine = DiffusersEngine(build_pipeline(name, tmp, args.device), name=f"{name} (random weights)",
                             device=args.device, default_steps=args.steps, guidance_scale=0.0,
                             display_size=(args.size, args.size))
    prompt = "a red apple on a wooden table, photo"
    bare = timed(lambda: engine.pipe(prompt, num_inference_steps=args.steps, guidance_scale=0.0,
                                     height=args.size, width=args.size), args.runs)
    off, _ = asyncio.run(turn_times(engine, args.runs, tmp / f"{name}-off", gate_on=False))
    on, where = asyncio.run(turn_times(engine, args.runs, tmp / f"{name}-on", gate_on=True))
    b, f, g = (statistics.median(x) * 1000 for x in (bare, off, on))
    return (name, f"{b:.0f}", f"{f:.0f}", f"{g:.0f}", f"{g / b:.2f}", f"{g / f:.2f}", where)


def main() -> int:
    parser = argparse.ArgumentParser(description="image turn vs bare pipeline call on CUDA")
    parser.add_argument("--models", default="sd-turbo,sdxl-turbo")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cpu: check the wiring on a machine without a GPU (slow; use a small --size)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    try:
        import torch
    except ImportError:
        print("bench/gpu.py: torch is not installed; nothing to measure.")
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench/gpu.py: no CUDA device here (torch.cuda.is_available() is False); "
              "run it on a machine with an NVIDIA GPU and a CUDA build of torch.")
        return 0
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        parser.error(f"unknown models {unknown}; choose from {', '.join(MODELS)}")
    warnings.filterwarnings("ignore", category=RuntimeWarning)  # random weights: NaN pixels
    rows = []
    with tempfile.TemporaryDirectory(prefix="easel-gpu-") as tmp:
        for name in names:
            rows.append(bench_model(name, args, Path(tmp)))
            gc.collect()  # free one model's weights before the next is built
            if args.device == "cuda":
                torch.cuda.empty_cache()
    where = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU (wiring check only)"
    print(f"# bench/gpu.py — {where}, {args.size}x{args.size}, "
          f"{args.steps} step(s), median of {args.runs}, random weights\n")
    headers = ("model", "bare pipeline ms", "turn, gate off ms", "turn, all gates ms",
               "all gates / bare (≤ 1.10)", "all gates / gate off (≤ 1.05)", "NudeNet on")
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
