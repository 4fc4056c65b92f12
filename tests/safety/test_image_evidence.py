"""An exposed-body-part detection withholds a picture only with a person or skin behind it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from safety.benign_images import pattern_images
from safety.image import LABELS, NudeNetClassifier, detections, pick_providers
from safety.image_evidence import Detection, is_grey, skin_share, support

SKIN = (224, 172, 140)  # a light skin tone; (120, 80, 60) a dark one


def test_skin_chroma_covers_light_and_dark_skin_but_not_saturated_colours() -> None:
    for tone in [SKIN, (120, 80, 60), (80, 52, 40), (200, 150, 120)]:
        assert skin_share(np.array([tone] * 10, np.uint8)) == 1.0, tone
    for colour in [(255, 140, 0), (30, 80, 200), (120, 200, 80), (150, 60, 200), (250, 240, 60)]:
        assert skin_share(np.array([colour] * 10, np.uint8)) == 0.0, colour
    assert is_grey(np.array([(v, v, v) for v in range(0, 255, 5)], np.uint8))
    assert not is_grey(np.array([(30, 80, 200)] * 5, np.uint8))


def _canvas(colour: tuple[int, int, int], grey: bool = False) -> np.ndarray:
    rgb = np.full((200, 200, 3), 255, np.uint8)
    rgb[50:150, 50:150] = colour
    if grey:
        rgb[...] = rgb.mean(axis=2, keepdims=True).astype(np.uint8)
    return rgb


def test_support_is_a_person_skin_or_no_colour_to_judge_by() -> None:
    part = Detection("BUTTOCKS_EXPOSED", 0.7, (50, 50, 150, 150))
    blue = _canvas((30, 80, 200))
    assert support(part, [part], blue) is None
    assert support(part, [part], _canvas(SKIN)).startswith("skin:")
    assert support(part, [part], _canvas((30, 80, 200), grey=True)) == "grey"  # a B&W photo
    face = Detection("FACE_FEMALE", 0.55, (0, 0, 40, 40))
    assert support(part, [part, face], blue) == "person:FACE_FEMALE"
    # The same part, covered, is the same region seen twice; a faint face is not a person.
    covered = Detection("BUTTOCKS_COVERED", 0.9, (50, 50, 150, 150))
    assert support(part, [part, covered, Detection("FACE_MALE", 0.25, (0, 0, 9, 9))], blue) is None


def test_boxes_map_back_to_the_original_image() -> None:
    raw = np.zeros((4 + len(LABELS), 2), np.float32)
    raw[:4, 0] = [160, 80, 64, 32]  # cx, cy, w, h at the detector's 320 px
    raw[4 + LABELS.index("FEMALE_BREAST_EXPOSED"), 0] = 0.8
    raw[4 + LABELS.index("FACE_MALE"), 1] = 0.1  # under nudenet's floor
    found = detections(raw, scale=2.0)  # a 640 px picture
    assert list(found) == ["FEMALE_BREAST_EXPOSED"]
    assert found["FEMALE_BREAST_EXPOSED"].box == (256, 128, 384, 192)


@pytest.fixture(scope="module")
def detector() -> NudeNetClassifier:
    clf = NudeNetClassifier()
    clf.load()
    return clf


def test_the_colour_wheel_of_the_issue_is_no_longer_withheld(detector) -> None:
    kind, wheel = pattern_images(1)[0]
    assert kind == "wheel"
    before = NudeNetClassifier(require_support=False)
    (old,) = before.classify_sync([wheel])
    assert not old.allowed  # the detector alone calls it BUTTOCKS_EXPOSED
    (now,) = detector.classify_sync([wheel])
    assert now.allowed and "no person or skin" in now.reason
    assert now.scores == old.scores  # the same detections, reported for the log


def test_a_skin_toned_shape_the_detector_flags_is_still_withheld() -> None:
    low = NudeNetClassifier({"BUTTOCKS_EXPOSED": 0.3})
    blob = Image.new("RGB", (512, 512), "white")
    ImageDraw.Draw(blob).ellipse((106, 56, 406, 456), fill=SKIN)
    (verdict,) = low.classify_sync([blob])
    assert not verdict.allowed and "(skin:" in verdict.reason
    grey = blob.convert("L").convert("RGB")  # black and white: colour cannot clear it
    (verdict,) = low.classify_sync([grey])
    assert not verdict.allowed and "(grey)" in verdict.reason


def test_a_borderline_score_gets_a_second_look_when_the_picture_has_the_pixels(detector) -> None:
    near = {"BUTTOCKS_EXPOSED": Detection("BUTTOCKS_EXPOSED", detector.thresholds["BUTTOCKS_EXPOSED"] - 0.05, (0, 0, 9, 9))}
    before = detector.second_looks
    small = np.zeros((256, 256, 3), np.uint8)
    assert detector._second_look(small, near) == near  # 256 px: nothing more to see
    big = np.full((700, 700, 3), 90, np.uint8)
    merged = detector._second_look(big, near)
    assert detector.second_looks == before + 1
    assert merged["BUTTOCKS_EXPOSED"].score >= near["BUTTOCKS_EXPOSED"].score  # the better view wins
    far = {"BUTTOCKS_EXPOSED": Detection("BUTTOCKS_EXPOSED", 0.2, (0, 0, 9, 9))}
    assert detector._second_look(big, far) == far and detector.second_looks == before + 1


def test_cuda_is_used_when_onnxruntime_has_it() -> None:
    cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert pick_providers("auto", cuda) == cuda
    assert pick_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert pick_providers("cpu", cuda) == ["CPUExecutionProvider"]
    with pytest.raises(ValueError, match="onnxruntime-gpu"):
        pick_providers("cuda", ["CPUExecutionProvider"])
    with pytest.raises(ValueError, match="unknown"):
        NudeNetClassifier(device="tpu")
