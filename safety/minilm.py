"""The all-MiniLM-L6-v2 forward pass in torch, read straight from the packaged safetensors.

Why not `transformers.AutoModel`: on this class of 2-core CPU its per-call overhead alone was
~15 ms for a 4-token prompt, over the whole latency budget.  This lean pass gives the same
embeddings (a test checks it against `transformers`).  It runs in two ways:
- eagerly, for the "torch" runtime (`embedding.MiniLMEncoder`), optionally int8;
- as the source of the ONNX graph (`encoder_onnx` exports it with `torch.onnx.export`).
  (Spelling the attention out instead of SDPA, with the scale folded into the query weights
  as the old hand-written graph did, measured no faster once exported: one pass serves both.)
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)


class _Layer(torch.nn.Module):
    def __init__(self, w: dict[str, torch.Tensor], p: str, heads: int, eps: float) -> None:
        super().__init__()
        hidden = w[f"{p}.attention.output.dense.weight"].shape[0]
        self.heads, self.head_dim = heads, hidden // heads
        # Fuse Q, K and V into one matmul: fewer, larger ops are what a small CPU likes.
        names = [f"{p}.attention.self.{n}" for n in ("query", "key", "value")]
        self.qkv = _linear(torch.cat([w[n + ".weight"] for n in names]), torch.cat([w[n + ".bias"] for n in names]))
        self.out = _linear(w[f"{p}.attention.output.dense.weight"], w[f"{p}.attention.output.dense.bias"])
        self.up = _linear(w[f"{p}.intermediate.dense.weight"], w[f"{p}.intermediate.dense.bias"])
        self.down = _linear(w[f"{p}.output.dense.weight"], w[f"{p}.output.dense.bias"])
        self.ln1 = _layer_norm(w, f"{p}.attention.output.LayerNorm", eps)
        self.ln2 = _layer_norm(w, f"{p}.output.LayerNorm", eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, t, hidden = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        a = a.transpose(1, 2).reshape(b, t, hidden)
        x = self.ln1(self.out(a) + x)
        return self.ln2(self.down(F.gelu(self.up(x))) + x)


class Encoder(torch.nn.Module):
    """(ids, attention) int64 batch x tokens -> mean-pooled, L2-normalised float32 embeddings."""

    def __init__(self, model_dir: Path, *, for_export: bool = False) -> None:
        from safetensors.torch import load_file

        super().__init__()
        config = json.loads((model_dir / "config.json").read_text())
        w = {k.removeprefix("bert."): v for k, v in load_file(model_dir / "model.safetensors").items()}
        eps = float(config.get("layer_norm_eps", 1e-12))
        # Every text is token type 0: fold that row into the position table.
        positions = w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0]
        self.word = torch.nn.Embedding.from_pretrained(w["embeddings.word_embeddings.weight"])
        self.positions = torch.nn.Parameter(positions, requires_grad=False)
        self.ln = _layer_norm(w, "embeddings.LayerNorm", eps)
        self.layers = torch.nn.ModuleList(
            _Layer(w, f"encoder.layer.{i}", config["num_attention_heads"], eps)
            for i in range(config["num_hidden_layers"])
        )
        # A single text needs no mask, but an exported graph must serve every batch size.
        self.mask_single = not for_export

    def forward(self, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        x = self.ln(self.word(ids) + self.positions[: ids.shape[1]])
        single = self.mask_single and ids.shape[0] == 1
        # Padded keys get -1e9 before the softmax.
        mask = None if single else ((1.0 - attention[:, None, None, :].float()) * -1e9)
        for layer in self.layers:
            x = layer(x, mask)
        m = attention[:, :, None].float()
        return F.normalize((x * m).sum(1) / m.sum(1), dim=-1)


def _linear(weight: torch.Tensor, bias: torch.Tensor) -> torch.nn.Linear:
    layer = torch.nn.Linear(weight.shape[1], weight.shape[0])
    layer.weight.data, layer.bias.data = weight, bias
    return layer


def _layer_norm(w: dict[str, torch.Tensor], prefix: str, eps: float) -> torch.nn.LayerNorm:
    norm = torch.nn.LayerNorm(w[prefix + ".weight"].shape[0], eps=eps)
    norm.weight.data, norm.bias.data = w[prefix + ".weight"], w[prefix + ".bias"]
    return norm


def build_encoder(model_dir: Path, quantize: bool) -> tuple[torch.nn.Module, bool]:
    """The eager encoder in eval mode, and whether it is int8."""
    model = Encoder(model_dir).eval()
    if not quantize:
        return model, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the eager API is deprecated upstream but works
            return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8), True
    except (AttributeError, RuntimeError) as exc:  # API gone or no int8 kernels here
        log.warning("int8 quantisation unavailable (%s); using float32 embeddings", exc)
        return model, False
