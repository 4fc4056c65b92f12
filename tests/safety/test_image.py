"""NudeNet image classifier on generated images (the detector shipped in the wheel)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from safety.image import DEFAULT_THRESHOLDS, LABELS, NudeNetClassifier, label_scores, to_bgr


@pytest.fixture(scope="module")
def nudenet() -> NudeNetClassifier:
    classifier = NudeNetClassifier()
    classifier.load()
    return classifier


def benign_images() -> list[Image.Image]:
    ellipse = Image.new("RGB", (512, 512), "white")
    ImageDraw.Draw(ellipse).ellipse((106, 56, 406, 456), fill=(225, 170, 140))  # skin-coloured
    two_circles = Image.new("RGB", (512, 512), (240, 220, 200))
    draw = ImageDraw.Draw(two_circles)
    draw.ellipse((100, 150, 240, 290), fill=(210, 150, 120))
    draw.ellipse((272, 150, 412, 290), fill=(210, 150, 120))
    gradient = Image.fromarray(np.tile(np.linspace(0, 255, 512, dtype=np.uint8), (512, 1)), "L")
    landscape = Image.new("RGB", (768, 512), (120, 180, 240))
    ImageDraw.Draw(landscape).rectangle((0, 300, 768, 512), fill=(60, 140, 60))
    return [ellipse, two_circles, gradient.convert("RGB"), landscape, Image.new("RGBA", (300, 200), (255, 0, 0, 128))]


async def test_generated_benign_images_pass(nudenet: NudeNetClassifier) -> None:
    verdicts = await nudenet.classify(benign_images())
    assert all(v.allowed for v in verdicts), [v.scores for v in verdicts]


def test_skin_ellipse_is_what_the_calibration_is_about(nudenet: NudeNetClassifier) -> None:
    # The documented case: a plain skin ellipse looks a bit like BUTTOCKS_EXPOSED to the
    # detector, below the calibrated threshold.
    scores = nudenet.scores(benign_images()[:1])[0]
    assert scores.get("BUTTOCKS_EXPOSED", 0.0) < DEFAULT_THRESHOLDS["BUTTOCKS_EXPOSED"]


def test_to_bgr_reverses_channels() -> None:
    bgr = to_bgr(Image.new("RGB", (2, 2), (10, 20, 30)))
    assert bgr.shape == (2, 2, 3) and bgr.dtype == np.uint8 and tuple(bgr[0, 0]) == (30, 20, 10)


def test_label_scores_uses_argmax_per_anchor() -> None:
    raw = np.zeros((4 + len(LABELS), 3), dtype=np.float32)
    raw[4 + LABELS.index("BUTTOCKS_EXPOSED"), 0] = 0.7
    raw[4 + LABELS.index("FACE_FEMALE"), 0] = 0.9  # the same anchor's arg-max is a face
    raw[4 + LABELS.index("FEMALE_BREAST_EXPOSED"), 1] = 0.55
    raw[4 + LABELS.index("ANUS_EXPOSED"), 2] = 0.1  # below nudenet's 0.2 floor
    assert label_scores(raw) == {"FACE_FEMALE": 0.9, "FEMALE_BREAST_EXPOSED": 0.55}


def test_verdict_blocks_on_exposed_labels_only() -> None:
    classifier = NudeNetClassifier()
    assert classifier.verdict({"FACE_FEMALE": 0.99, "FEET_EXPOSED": 0.9}).allowed
    blocked = classifier.verdict({"FEMALE_GENITALIA_EXPOSED": 0.6})
    assert not blocked.allowed and blocked.category.value == "sexual"


def test_unknown_label_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown NudeNet labels"):
        NudeNetClassifier({"BOTTOM_EXPOSED": 0.5})
