"""The MiniLM encoder exported to ONNX with torch.onnx: same embeddings as the torch pass,
exported once (off the event loop's thread) and reused from the cache folder."""

from __future__ import annotations

import json
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import pytest

from safety.embedding import EmbeddingHead, MiniLMEncoder, default_model_dir
from safety.encoder_onnx import (
    INPUTS,
    OPSET,
    OUTPUT,
    EncoderExportError,
    OnnxSession,
    cached_model_path,
    export_onnx,
    length_chunks,
)
from safety.errors import ClassifierError
from safety.text import HEAD_PATH

TEXTS = ["a fox", "a photorealistic painting of a lighthouse at dawn, highly detailed",
         "hello there #3-4", "draw a naked child", "a man whose head has been cut clean off"]


class CountingExport:
    """The real exporter, recording the thread of each call."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def __call__(self, model_dir: Path, path: Path) -> None:
        self.threads.append(threading.current_thread())
        export_onnx(model_dir, path)


def refuse_export(model_dir: Path, path: Path) -> None:
    raise AssertionError("the cached file should have been used")


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CountingExport]:
    """A first start: an empty cache folder, the session opened in a worker thread (as the
    gate's warm-up and the micro-batcher do)."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    export = CountingExport()
    session = OnnxSession(default_model_dir(), 1, cache_dir=cache, export=export)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(session.get).result()
    return cache, export


@pytest.fixture(scope="module")
def onnx_encoder(exported: tuple[Path, CountingExport]) -> MiniLMEncoder:
    encoder = MiniLMEncoder(runtime="onnx", num_threads=1, cache_dir=exported[0])
    encoder.load()
    return encoder


def test_the_first_start_exports_once_in_a_worker_thread(exported, onnx_encoder) -> None:
    cache, export = exported
    assert len(export.threads) == 1 and export.threads[0] is not threading.main_thread()
    (path,) = cache.iterdir()  # the export, and no temporary file left beside it
    assert path == cached_model_path(default_model_dir(), cache)
    # A later start opens the file and exports nothing.
    OnnxSession(default_model_dir(), 1, cache_dir=cache, export=refuse_export).get()


def test_the_exported_file_is_a_valid_dynamic_onnx_model(exported) -> None:
    path = cached_model_path(default_model_dir(), exported[0])
    model = onnx.load(path)
    onnx.checker.check_model(model)
    assert [i.name for i in model.graph.input] == list(INPUTS)
    assert [o.name for o in model.graph.output] == [OUTPUT]
    assert {o.version for o in model.opset_import if o.domain in ("", "ai.onnx")} == {OPSET}
    # Batch and token axes are symbolic: one file serves every batch and prompt length.
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert all(d.dim_param and not d.dim_value for d in dims)


def test_onnx_export_matches_the_torch_forward_pass(onnx_encoder: MiniLMEncoder) -> None:
    torch_fp32 = MiniLMEncoder(default_model_dir(), quantize=False, runtime="torch")
    ours = onnx_encoder.encode(TEXTS)
    ref = torch_fp32.encode(TEXTS)  # padded batches through torch's SDPA attention
    assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.abs(ours - ref).max() < 1e-4
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_a_text_gets_the_same_embedding_alone_or_in_any_batch(onnx_encoder: MiniLMEncoder) -> None:
    together = onnx_encoder.encode(TEXTS)
    alone = np.vstack([onnx_encoder.encode([t]) for t in TEXTS])
    reordered = onnx_encoder.encode(TEXTS[::-1])[::-1]
    assert np.abs(together - alone).max() < 1e-5
    assert np.abs(together - reordered).max() < 1e-5


def test_a_damaged_cache_file_is_exported_again(exported, tmp_path: Path) -> None:
    good = cached_model_path(default_model_dir(), exported[0])
    damaged = cached_model_path(default_model_dir(), tmp_path)
    damaged.write_bytes(b"not a protobuf")
    copies: list[Path] = []

    def export(model_dir: Path, path: Path) -> None:  # the real export, already done once
        copies.append(path)
        shutil.copyfile(good, path)

    session = OnnxSession(default_model_dir(), 1, cache_dir=tmp_path, export=export)
    ids = np.array([[101, 4419, 102]], np.int64)
    assert session.run(ids, np.ones_like(ids)).shape == (1, 384)
    assert copies == [damaged]


def test_the_cache_name_follows_the_model_files(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"hidden_size": 384}))
    (model / "model.safetensors").write_bytes(b"weights")
    first = cached_model_path(model, tmp_path / "cache")
    assert first == cached_model_path(model, tmp_path / "cache")  # stable across starts
    assert first.parent == tmp_path / "cache" and first.suffix == ".onnx"
    (model / "config.json").write_text(json.dumps({"hidden_size": 768}))
    assert cached_model_path(model, tmp_path / "cache") != first
    second = cached_model_path(model, tmp_path / "cache")
    (model / "model.safetensors").write_bytes(b"other weights")
    assert cached_model_path(model, tmp_path / "cache") != second


def test_a_failed_export_is_a_classifier_error_and_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "minilm.onnx"
    with pytest.raises(EncoderExportError) as info:
        export_onnx(tmp_path / "no-model-here", path)
    assert isinstance(info.value, ClassifierError)  # the gate fails closed on it
    assert list(path.parent.iterdir()) == []


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
