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
Covered labels (FACE_*, *_COVERED, FEET_*, BELLY_*, ARMPITS_*) never block.  A detection over
its threshold must also be backed by a person or by skin in its box (`safety.image_evidence`):
colour wheels and blurry blobs reach 0.6-0.8 with neither.  On a machine with CUDA (and
onnxruntime-gpu) the detector runs on the GPU.
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

from safety.image_evidence import Detection, support
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
DEVICES = ("auto", "cpu", "cuda")
SECOND_LOOK_MARGIN = 0.15  # how far under its threshold a label still gets a second look


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


def detections(raw: np.ndarray, scale: float) -> dict[str, Detection]:
    """Per label, its best anchor (same arg-max rule as `label_scores`) with the box mapped
    back to the original image (the letter-box pads bottom/right only, so it is a scale)."""
    class_scores = raw[4:, :]
    best = class_scores.max(axis=0)
    which = class_scores.argmax(axis=0)
    out: dict[str, Detection] = {}
    for idx in np.unique(which[best >= MIN_DETECTION]):
        anchors = np.flatnonzero(which == idx)
        a = int(anchors[best[anchors].argmax()])
        cx, cy, w, h = (float(v) * scale for v in raw[:4, a])
        box = (int(cx - w / 2), int(cy - h / 2), int(np.ceil(cx + w / 2)), int(np.ceil(cy + h / 2)))
        out[LABELS[int(idx)]] = Detection(LABELS[int(idx)], round(float(best[a]), 4), box)
    return out


def pick_providers(device: str, available: list[str]) -> list[str]:
    """ONNX Runtime providers for `device` ("auto" uses CUDA when this onnxruntime has it)."""
    if device not in DEVICES:
        raise ValueError(f"unknown image safety device {device!r}")
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise ValueError("image safety device 'cuda' needs onnxruntime-gpu (CUDAExecutionProvider)")
    if device != "cpu" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class NudeNetClassifier:
    """Implements `ImageClassifier`; the ONNX session loads lazily, once.

    Each image is scored at `resolution`; a blocking label within `SECOND_LOOK_MARGIN` under
    its threshold gets a second look at up to `second_look_resolution` when the picture has
    the pixels for it (a small figure in a large photo loses detail at 320).  A detection
    over its threshold withholds the picture only with the support `image_evidence` asks for."""

    def __init__(
        self,
        thresholds: Mapping[str, float] | None = None,
        model_path: Path | None = None,
        resolution: int = 320,
        threads: int | None = 1,
        *,
        device: str = "auto",
        second_look_resolution: int = 640,
        require_support: bool = True,
    ) -> None:
        self.thresholds = dict(thresholds or DEFAULT_THRESHOLDS)
        unknown = set(self.thresholds) - set(LABELS)
        if unknown:
            raise ValueError(f"unknown NudeNet labels: {sorted(unknown)}")
        if device not in DEVICES:
            raise ValueError(f"unknown image safety device {device!r}")
        self.model_path = model_path
        self.resolution = resolution
        self.second_look_resolution = second_look_resolution
        self.require_support = require_support
        self.threads = threads
        self.device = device
        self.providers: list[str] = []
        self.second_looks = 0  # how often a borderline image was looked at again
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
                    # Spinning workers only take a small shared CPU from the event loop.
                    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                path = self.model_path or default_model_path()
                providers = pick_providers(self.device, onnxruntime.get_available_providers())
                self._session = onnxruntime.InferenceSession(str(path), options, providers=providers)
                self.providers = list(self._session.get_providers())
                self._input_name = self._session.get_inputs()[0].name
                log.info("loaded NudeNet detector from %s on %s", path, self.providers[0])

    warm_up = load

    def _blob(self, bgr: np.ndarray, resolution: int | None = None) -> np.ndarray:
        import cv2

        # Pad to a square at the bottom/right, as nudenet does, so aspect ratio is kept.
        h, w = bgr.shape[:2]
        side = max(h, w)
        padded = cv2.copyMakeBorder(bgr, 0, side - h, 0, side - w, cv2.BORDER_CONSTANT)
        size = (resolution or self.resolution,) * 2
        return cv2.dnn.blobFromImage(padded, 1 / 255.0, size, (0, 0, 0), swapRB=True, crop=False)

    def _raw(self, bgrs: list[np.ndarray], resolution: int) -> np.ndarray:
        self.load()
        batch = np.concatenate([self._blob(b, resolution) for b in bgrs])
        return self._session.run(None, {self._input_name: batch})[0]

    def scores(self, images: list[Image.Image]) -> list[dict[str, float]]:
        """Blocking: the best detector score per label, for each image."""
        if not images:
            return []
        raw = self._raw([to_bgr(im) for im in images], self.resolution)
        return [label_scores(raw[i]) for i in range(len(images))]

    def verdict(self, scores: dict[str, float]) -> Verdict:
        """The decision from scores alone (no pixels to look for support in)."""
        over = {k: v for k, v in scores.items() if k in self.thresholds and v >= self.thresholds[k]}
        if not over:
            return Verdict(allowed=True, scores=scores)
        label = max(over, key=lambda k: over[k] / self.thresholds[k])
        return Verdict(allowed=False, category=Category.SEXUAL, scores=scores, reason=f"nudenet:{label}={over[label]:.2f}")

    def _second_look(self, bgr: np.ndarray, found: dict[str, Detection]) -> dict[str, Detection]:
        side = max(bgr.shape[:2])
        resolution = min(self.second_look_resolution, -(-side // 32) * 32)
        borderline = any(self.thresholds[k] - SECOND_LOOK_MARGIN <= d.score < self.thresholds[k]
                         for k, d in found.items() if k in self.thresholds)
        if not borderline or resolution <= self.resolution:
            return found
        self.second_looks += 1
        again = detections(self._raw([bgr], resolution)[0], side / resolution)
        merged = dict(found)
        for label, d in again.items():  # the better view of each label wins
            if label not in merged or d.score > merged[label].score:
                merged[label] = d
        return merged

    def judge(self, image: Image.Image, found: dict[str, Detection]) -> Verdict:
        scores = {k: d.score for k, d in found.items()}
        over = [d for k, d in found.items() if k in self.thresholds and d.score >= self.thresholds[k]]
        over.sort(key=lambda d: d.score / self.thresholds[d.label], reverse=True)
        rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
        discounted = []
        for d in over:
            why = support(d, list(found.values()), rgb) if self.require_support else "not required"
            if why is not None:
                return Verdict(allowed=False, category=Category.SEXUAL, scores=scores,
                               reason=f"nudenet:{d.label}={d.score:.2f} ({why})")
            discounted.append(f"{d.label}={d.score:.2f}")
        return Verdict(allowed=True, scores=scores,
                       reason=f"nudenet: no person or skin behind {', '.join(discounted)}" if discounted else "")

    def classify_sync(self, images: list[Image.Image]) -> list[Verdict]:
        if not images:
            return []
        bgrs = [to_bgr(im) for im in images]
        raw = self._raw(bgrs, self.resolution)
        out = []
        for i, (image, bgr) in enumerate(zip(images, bgrs, strict=True)):
            found = detections(raw[i], max(bgr.shape[:2]) / self.resolution)
            out.append(self.judge(image, self._second_look(bgr, found)))
        return out

    async def classify(self, images: list[Image.Image]) -> list[Verdict]:
        return await asyncio.to_thread(self.classify_sync, images)
