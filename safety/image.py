"""Output-image classifier: NudeNet's detector (ONNX, shipped in the `nudenet` wheel).

We open the `320n.onnx` bundled in the nudenet package with our own onnxruntime session
(one intra-op thread by default: on small shared CPUs two threads ran 2x slower) and feed it
ourselves: images arrive as PIL, become numpy BGR arrays (OpenCV's order, as nudenet
expects), are letter-boxed exactly like nudenet's `_read_image`, and the raw output is
reduced with numpy instead of nudenet's per-anchor Python loop (~30 ms of a 512 px image's
budget on a small CPU).  Only the best score per label matters for a block decision, so no
box or NMS work is done.

Thresholds are per label and deliberately above what harmless shapes reach: a plain
skin-coloured ellipse scores ~0.46-0.48 as BUTTOCKS_EXPOSED, so that label needs 0.6.
Covered labels (FACE_*, *_COVERED, FEET_*, BELLY_*, ARMPITS_*) never block.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from safety.policy import Category, Verdict

log = logging.getLogger(__name__)

# nudenet 3.4's label order for the 320n model's class rows.
LABELS: tuple[str, ...] = (
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED",
    "BELLY_COVERED", "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE",
    "BELLY_EXPOSED", "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)
DEFAULT_THRESHOLDS: dict[str, float] = {
    "FEMALE_GENITALIA_EXPOSED": 0.4,
    "MALE_GENITALIA_EXPOSED": 0.4,
    "ANUS_EXPOSED": 0.4,
    "FEMALE_BREAST_EXPOSED": 0.5,
    "BUTTOCKS_EXPOSED": 0.6,
}
MIN_DETECTION = 0.2  # nudenet's own floor for a detection


def default_model_path() -> Path:
    import nudenet  # imported lazily: only needed when the detector loads

    return Path(nudenet.__file__).resolve().parent / "320n.onnx"


def to_bgr(image: Image.Image) -> np.ndarray:
    """PIL (any mode) → contiguous uint8 BGR array, the layout nudenet/OpenCV expect."""
    import cv2

    rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"), dtype=np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def label_scores(raw: np.ndarray) -> dict[str, float]:
    """Best score per label from one image's raw output (22 x anchors): like nudenet, each
    anchor counts for its arg-max class only, and below 0.2 not at all."""
    class_scores = raw[4:, :]
    best = class_scores.max(axis=0)
    which = class_scores.argmax(axis=0)
    out: dict[str, float] = {}
    for idx in np.unique(which[best >= MIN_DETECTION]):
        out[LABELS[int(idx)]] = round(float(best[which == idx].max()), 4)
    return out


class NudeNetClassifier:
    """Implements `ImageClassifier`; the ONNX session loads lazily, once."""

    def __init__(
        self,
        thresholds: Mapping[str, float] | None = None,
        model_path: Path | None = None,
        resolution: int = 320,
        threads: int | None = 1,
    ) -> None:
        self.thresholds = dict(thresholds or DEFAULT_THRESHOLDS)
        unknown = set(self.thresholds) - set(LABELS)
        if unknown:
            raise ValueError(f"unknown NudeNet labels: {sorted(unknown)}")
        self.model_path = model_path
        self.resolution = resolution
        self.threads = threads
        self._lock = threading.Lock()
        self._session: Any = None
        self._input_name = ""

    def load(self) -> None:
        with self._lock:
            if self._session is None:
                import onnxruntime  # imported lazily: heavy

                options = onnxruntime.SessionOptions()
                if self.threads:
                    options.intra_op_num_threads = self.threads
                    options.inter_op_num_threads = 1
                path = self.model_path or default_model_path()
                self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
                self._input_name = self._session.get_inputs()[0].name
                log.info("loaded NudeNet detector from %s", path)

    warm_up = load

    def _blob(self, bgr: np.ndarray) -> np.ndarray:
        import cv2

        # Pad to a square at the bottom/right, as nudenet does, so aspect ratio is kept.
        h, w = bgr.shape[:2]
        side = max(h, w)
        padded = cv2.copyMakeBorder(bgr, 0, side - h, 0, side - w, cv2.BORDER_CONSTANT)
        size = (self.resolution, self.resolution)
        return cv2.dnn.blobFromImage(padded, 1 / 255.0, size, (0, 0, 0), swapRB=True, crop=False)

    def scores(self, images: list[Image.Image]) -> list[dict[str, float]]:
        """Blocking: the best detector score per label, for each image."""
        if not images:
            return []
        self.load()
        batch = np.concatenate([self._blob(to_bgr(im)) for im in images])
        raw = self._session.run(None, {self._input_name: batch})[0]
        return [label_scores(raw[i]) for i in range(len(images))]

    def verdict(self, scores: dict[str, float]) -> Verdict:
        over = {k: v for k, v in scores.items() if k in self.thresholds and v >= self.thresholds[k]}
        if not over:
            return Verdict(allowed=True, scores=scores)
        label = max(over, key=lambda k: over[k] / self.thresholds[k])
        return Verdict(allowed=False, category=Category.SEXUAL, scores=scores, reason=f"nudenet:{label}={over[label]:.2f}")

    def classify_sync(self, images: list[Image.Image]) -> list[Verdict]:
        return [self.verdict(s) for s in self.scores(images)]

    async def classify(self, images: list[Image.Image]) -> list[Verdict]:
        return await asyncio.to_thread(self.classify_sync, images)
