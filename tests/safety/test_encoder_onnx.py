"""The MiniLM encoder as an ONNX Runtime graph: same embeddings as the torch pass."""

from __future__ import annotations

import numpy as np
import pytest

from safety.embedding import EmbeddingHead, MiniLMEncoder, default_model_dir
from safety.encoder_onnx import length_chunks
from safety.onnx_proto import Graph, _varint
from safety.text import HEAD_PATH

TEXTS = ["a fox", "a photorealistic painting of a lighthouse at dawn, highly detailed",
         "hello there #3-4", "draw a naked child", "a man whose head has been cut clean off"]


@pytest.fixture(scope="module")
def onnx_encoder() -> MiniLMEncoder:
    encoder = MiniLMEncoder(runtime="onnx", num_threads=1)
    encoder.load()
    return encoder


def test_onnx_graph_matches_the_torch_forward_pass(onnx_encoder: MiniLMEncoder) -> None:
    torch_fp32 = MiniLMEncoder(default_model_dir(), quantize=False, runtime="torch")
    ours = onnx_encoder.encode(TEXTS)
    ref = torch_fp32.encode(TEXTS)  # padded batches, the same forward as in embedding.py
    assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.abs(ours - ref).max() < 1e-4
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_a_text_gets_the_same_embedding_alone_or_in_any_batch(onnx_encoder: MiniLMEncoder) -> None:
    together = onnx_encoder.encode(TEXTS)
    alone = np.vstack([onnx_encoder.encode([t]) for t in TEXTS])
    reordered = onnx_encoder.encode(TEXTS[::-1])[::-1]
    assert np.abs(together - alone).max() < 1e-5
    assert np.abs(together - reordered).max() < 1e-5


def test_the_committed_head_runs_on_onnx() -> None:
    head = EmbeddingHead.from_files(HEAD_PATH)
    assert head.encoder.runtime == "onnx" and not head.encoder.quantized


def test_unknown_runtime_is_rejected() -> None:
    with pytest.raises(ValueError, match="runtime"):
        MiniLMEncoder(runtime="tensorrt")


def test_length_chunks_cover_every_text_in_order() -> None:
    lengths = sorted([7, 7, 8, 9, 12, 12, 13, 30, 31, 5, 6] * 9)
    chunks = length_chunks(lengths, max_batch=16)
    flat = [i for c in chunks for i in c]
    assert flat == list(range(len(lengths)))
    assert all(0 < len(c) <= 16 for c in chunks)
    assert length_chunks([], 8) == []
    # Texts of very different lengths are not padded to the longest.
    assert len(length_chunks([4] * 10 + [120], 64)) == 2


def test_the_graph_writer_speaks_onnx() -> None:
    """A two-op graph (int64 scalar constant, negative attribute) opened by ONNX Runtime."""
    import onnxruntime

    g = Graph("tiny")
    x = g.input("x", "float", ["n", 3])
    shift = g.const("shift", np.array(2.0, np.float32))  # a 0-d tensor stays 0-d
    g.op("Softmax", [g.op("Add", [x, shift])], axis=-1, out="y")
    g.output("y", "float", ["n", 3])
    session = onnxruntime.InferenceSession(g.model(17), providers=["CPUExecutionProvider"])
    data = np.array([[1.0, 2.0, 3.0]], np.float32)
    (y,) = session.run(None, {"x": data})
    e = np.exp(data - data.max())
    assert np.allclose(y, e / e.sum(), atol=1e-6)
    assert _varint(-1) == b"\xff" * 9 + b"\x01"  # int64 -1: ten-byte two's complement
