"""A tiny random-weights Stable Diffusion folder, built in code (CLIP text encoder and
all), for tests of the plain `from_pretrained` path that every model except the built-in
demo takes. Its pictures are noise; easel's default model is the trained one in
`imaging/demo/`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)



def _byte_level_tokenizer():  # -> CLIPTokenizer
    """A CLIP tokenizer with a byte-level vocabulary and no merges: every character is a
    token, so any text tokenizes without a downloaded vocab."""
    import tempfile

    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab: dict[str, int] = {}
    for sym in sorted(alphabet):
        vocab[sym] = len(vocab)
    for sym in sorted(alphabet):
        vocab[sym + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    with tempfile.TemporaryDirectory() as tmp:
        vocab_file = Path(tmp) / "vocab.json"
        merges_file = Path(tmp) / "merges.txt"
        vocab_file.write_text(json.dumps(vocab))
        merges_file.write_text("#version: 0.2\n")
        tok = CLIPTokenizer(str(vocab_file), str(merges_file), model_max_length=77)
    return tok


def build_random_pipeline(seed: int = 0, inpaint: bool = False):  # -> StableDiffusionPipeline
    """`inpaint`: an inpainting checkpoint instead (a 9-channel UNet: latents, mask and the
    masked picture's latents), saved as a StableDiffusionInpaintPipeline."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tokenizer = _byte_level_tokenizer()
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=9 if inpaint else 4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(16, 16, 32, 32),  # 4 blocks -> latent factor 8, as in real SD
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=256,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=len(tokenizer) - 2,
            eos_token_id=len(tokenizer) - 1,
            pad_token_id=len(tokenizer) - 1,
            hidden_size=32,
            intermediate_size=64,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(tokenizer),
            max_position_embeddings=77,
        )
    )
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        num_train_timesteps=1000, steps_offset=1,
    )
    cls = StableDiffusionInpaintPipeline if inpaint else StableDiffusionPipeline
    return cls(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def write_random_model(path: Path, inpaint: bool = False) -> Path:
    """Build the random pipeline and save it to `path` (loadable with from_pretrained)."""
    path.mkdir(parents=True, exist_ok=True)
    pipe = build_random_pipeline(inpaint=inpaint)
    pipe.save_pretrained(str(path), safe_serialization=True)
    log.info("wrote a random-weights model to %s", path)
    return path
