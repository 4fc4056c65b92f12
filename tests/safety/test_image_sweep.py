"""The demo model's harmless drawings are not withheld (the seed sweep of the issue).

The detector scores a whole drawing of "a blue car on grass" as BUTTOCKS_EXPOSED and its
dark wheel as ANUS_EXPOSED; the picture-sized box no longer vouches for the wheel.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from imaging.engine import ImageRequest
from safety.demo_sweep import HARMLESS_SCENES, draw, withheld
from safety.image import NudeNetClassifier, detections, to_bgr
from safety.image_evidence import WHOLE_PICTURE_SHARE, Detection, area_share, support


@pytest.fixture(scope="module")
def detector() -> NudeNetClassifier:
    clf = NudeNetClassifier()
    clf.load()
    return clf


def test_the_issue_seed_is_delivered_and_the_detector_still_sees_what_it_saw(demo_engine, detector) -> None:
    (car,) = draw(demo_engine, ImageRequest, ["a blue car on grass"], [2])
    (verdict,) = detector.classify_sync([car.image])
    assert verdict.allowed, verdict.reason
    # The detections that withheld it are still there; only the evidence rule changed.
    bgr = to_bgr(car.image)
    found = detections(detector._raw([bgr], detector.resolution)[0], max(bgr.shape[:2]) / detector.resolution)
    whole = found["BUTTOCKS_EXPOSED"]
    assert area_share(whole.box, bgr.shape) > WHOLE_PICTURE_SHARE
    assert found["ANUS_EXPOSED"].score >= detector.thresholds["ANUS_EXPOSED"]
    assert "no person or skin behind ANUS_EXPOSED" in verdict.reason


def test_a_sweep_of_seeds_and_harmless_scenes_is_not_withheld(demo_engine, detector) -> None:
    scenes = [HARMLESS_SCENES[0], HARMLESS_SCENES[1], "a red apple on a white background", "a white boat at sea"]
    drawn = draw(demo_engine, ImageRequest, scenes, list(range(20)))
    assert len(drawn) == 80
    flagged = withheld(detector, drawn)
    assert not flagged, [(d.prompt, d.seed, v.reason) for d, v in flagged]


def test_a_picture_sized_box_is_no_person_but_a_part_sized_one_still_is() -> None:
    rgb = np.full((256, 256, 3), (40, 90, 200), np.uint8)  # blue: no skin, not grey
    wheel = Detection("ANUS_EXPOSED", 0.5, (70, 128, 129, 186))
    frame = Detection("BUTTOCKS_EXPOSED", 0.6, (0, 2, 254, 256))
    assert support(wheel, [wheel, frame], rgb) is None
    assert support(frame, [frame, wheel], rgb) is None  # nor is the frame backed by a person
    buttock = Detection("BUTTOCKS_EXPOSED", 0.6, (40, 100, 200, 220))  # about 30% of the picture
    assert support(wheel, [wheel, buttock], rgb) == "person:BUTTOCKS_EXPOSED"
    face = Detection("FACE_FEMALE", 0.7, (100, 10, 150, 60))
    assert support(frame, [frame, face], rgb) is None


def test_a_close_up_filling_the_picture_is_still_withheld_on_skin() -> None:
    # A real close-up: the part fills the frame and the box is mostly skin.
    close_up = Image.new("RGB", (256, 256), (224, 172, 140))
    ImageDraw.Draw(close_up).ellipse((20, 20, 236, 236), fill=(200, 150, 120))
    rgb = np.asarray(close_up)
    part = Detection("BUTTOCKS_EXPOSED", 0.7, (0, 0, 256, 256))
    assert (support(part, [part], rgb) or "").startswith("skin:")
    grey = np.asarray(close_up.convert("L").convert("RGB"))
    assert support(part, [part], grey) == "grey"
