"""What an exposed-body-part detection must come with before it withholds a picture.

NudeNet's detector scores shapes, not people: a colour wheel, a sun with rays or a
blurry blob can reach 0.6-0.8 as BUTTOCKS_EXPOSED or FEMALE_BREAST_EXPOSED with nothing
human in the picture.  A real photo or painting of a person with an exposed body part
shows one of these, and so a detection counts only with at least one of them:

- *a person*: the detector also finds a face or another body part (not the same part
  covered) at `PERSON_MIN_SCORE` or more, in a box that is a part of the picture rather
  than most of it (see below);
- *skin in the box*: at least `SKIN_MIN_SHARE` of the detection box's pixels have skin
  chroma (the YCrCb skin rule of Chai & Ngan, 1999: Cr 133-173, Cb 77-127, any brightness,
  so it covers light to dark skin); the box hugs the part, so a real one is mostly skin;
- *no colour to judge by*: the box is (nearly) grey — a black-and-white or washed-out
  picture — where chroma says nothing, so the detection counts as it always did.

A box covering most of the picture (over `WHOLE_PICTURE_SHARE` of its area) is the
detector scoring the whole composition, not a body part: on the demo model's drawings
("a blue car on grass") it calls the entire frame BUTTOCKS_EXPOSED at 0.4-0.65 and a dark
wheel ANUS_EXPOSED, and the two vouched for each other (33 of 200 seeds withheld).  Such
a detection neither counts as a person for another one nor is backed by a person itself;
only skin in its box (a real close-up is mostly skin) or a colourless picture backs it.

Nothing here ever withholds a picture the detector alone would let through.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PERSON_MIN_SCORE = 0.4
SKIN_MIN_SHARE = 0.15
# Over this share of the picture's area, a box is "the whole picture", not a body part.
WHOLE_PICTURE_SHARE = 0.5
# Mean chroma (distance from grey in the Cr/Cb plane, 0-128) under which a box is treated
# as colourless: greyscale photos sit at 0-3, sepia prints around 15-25 (and in skin range).
GREY_MAX_CHROMA = 6.0
SKIN_CR = (133, 173)
SKIN_CB = (77, 127)

# Which body part (or face) each label shows: a covered buttock next to an "exposed" one
# is the same region seen twice, not evidence of a person.
_PART = {
    "FEMALE_GENITALIA_COVERED": "genitalia", "FEMALE_GENITALIA_EXPOSED": "genitalia",
    "MALE_GENITALIA_EXPOSED": "genitalia", "ANUS_EXPOSED": "anus", "ANUS_COVERED": "anus",
    "BUTTOCKS_EXPOSED": "buttocks", "BUTTOCKS_COVERED": "buttocks",
    "FEMALE_BREAST_EXPOSED": "breast", "FEMALE_BREAST_COVERED": "breast", "MALE_BREAST_EXPOSED": "breast",
    "FACE_FEMALE": "face", "FACE_MALE": "face", "FEET_EXPOSED": "feet", "FEET_COVERED": "feet",
    "BELLY_EXPOSED": "belly", "BELLY_COVERED": "belly", "ARMPITS_EXPOSED": "armpits",
    "ARMPITS_COVERED": "armpits",
}


@dataclass(frozen=True, slots=True)
class Detection:
    label: str
    score: float
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the original image's pixels


def box_pixels(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box
    x0, x1 = max(0, min(w, x0)), max(0, min(w, x1))
    y0, y1 = max(0, min(h, y0)), max(0, min(h, y1))
    return rgb[y0:y1, x0:x1].reshape(-1, 3)


def area_share(box: tuple[int, int, int, int], shape: tuple[int, ...]) -> float:
    """How much of an h x w picture `box` covers (clipped to the picture), 0-1."""
    h, w = shape[:2]
    x0, y0, x1, y1 = box
    inside_w = max(0, min(w, x1) - max(0, x0))
    inside_h = max(0, min(h, y1) - max(0, y0))
    return inside_w * inside_h / max(1, w * h)


def chroma(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cr and Cb (ITU-R BT.601, as OpenCV's YCrCb) of uint8 RGB pixels."""
    p = pixels.astype(np.float32)
    y = 0.299 * p[:, 0] + 0.587 * p[:, 1] + 0.114 * p[:, 2]
    return 128 + 0.713 * (p[:, 0] - y), 128 + 0.564 * (p[:, 2] - y)


def skin_share(pixels: np.ndarray) -> float:
    if not len(pixels):
        return 0.0
    cr, cb = chroma(pixels)
    skin = (cr >= SKIN_CR[0]) & (cr <= SKIN_CR[1]) & (cb >= SKIN_CB[0]) & (cb <= SKIN_CB[1])
    return float(skin.mean())


def is_grey(pixels: np.ndarray) -> bool:
    if not len(pixels):
        return True  # nothing to judge by: keep the detection
    cr, cb = chroma(pixels)
    return float(np.hypot(cr - 128, cb - 128).mean()) <= GREY_MAX_CHROMA


def support(detection: Detection, others: list[Detection], rgb: np.ndarray) -> str | None:
    """Why `detection` counts ("person:FACE_FEMALE", "skin:0.62", "grey"), or None."""
    part = _PART.get(detection.label)
    if area_share(detection.box, rgb.shape) <= WHOLE_PICTURE_SHARE:
        for other in others:
            if (other.score >= PERSON_MIN_SCORE and _PART.get(other.label) not in (None, part)
                    and area_share(other.box, rgb.shape) <= WHOLE_PICTURE_SHARE):
                return f"person:{other.label}"
    pixels = box_pixels(rgb, detection.box)
    if is_grey(pixels):
        return "grey"
    share = skin_share(pixels)
    if share >= SKIN_MIN_SHARE:
        return f"skin:{share:.2f}"
    return None
