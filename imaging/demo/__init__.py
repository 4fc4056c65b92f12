"""easel's built-in demo model: a small text-to-image model trained here, on a CPU, on
procedurally drawn captioned scenes (vocab.py, scenes.py), shipped in weights/.

Importing this package is cheap (no torch); the pipeline lives in `imaging.demo.model`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from PIL import Image

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEMO_MARKER = "easel_demo_model.json"


def default_model_dir() -> Path:
    """The trained demo model that ships with easel (the default image model)."""
    return WEIGHTS_DIR


def read_marker(path: Path | str) -> dict[str, Any] | None:
    """A model folder's demo marker, or None when it is not a demo model."""
    try:
        marker = json.loads((Path(path) / DEMO_MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def is_trained_demo_model(path: Path | str) -> bool:
    """True for a folder written by `easel demo-model train` (text encoder not included)."""
    marker = read_marker(path)
    return marker is not None and marker.get("weights") == "trained"


def display_size(path: Path | str) -> tuple[int, int] | None:
    """(native, display) side in pixels of a trained demo model, else None: it makes
    `native` px pictures, which are upscaled to `display` px for people."""
    marker = read_marker(path)
    if not marker or marker.get("weights") != "trained":
        return None
    return int(marker["native_size"]), int(marker["display_size"])


def recommended_settings(path: Path | str) -> dict[str, Any]:
    """Sampling settings a trained demo model was evaluated with ({"steps", "guidance_scale"}),
    for use when the operator set none; empty for other models."""
    marker = read_marker(path)
    if not marker or marker.get("weights") != "trained":
        return {}
    return dict(marker.get("recommended") or {})


def upscale(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A native demo picture scaled for display. Lanczos keeps the flat shapes' edges
    crisp without the blockiness of nearest-neighbour."""
    if image.size == size:
        return image
    return image.resize(size, Image.Resampling.LANCZOS)


def copy_model(dest: Path | str) -> Path:
    """Copy the shipped demo model to `dest` (e.g. to edit or re-train it)."""
    dest = Path(dest)
    shutil.copytree(WEIGHTS_DIR, dest, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("_train", "__pycache__"))
    return dest
