"""The demo model's world: named colours (with synonyms), things, backgrounds, positions, sizes.

Everything the generator draws and the evaluation measures is defined here, so the two can
never disagree about what "navy" or "on the left" means.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Bump when anything here or in scenes.py changes what a caption or a picture looks like:
# training caches and the model card are keyed by it.
DATA_VERSION = 2  # 2: a single thing whose place goes unsaid is mostly centred

NATIVE_SIZE = 64  # the model's resolution (pixels)
DISPLAY_SIZE = 256  # what a person gets: the native image upscaled


@dataclass(frozen=True, slots=True)
class Colour:
    name: str
    rgb: tuple[int, int, int]
    synonyms: tuple[str, ...]  # other words a caption may use; the name is always one


COLOURS: tuple[Colour, ...] = (
    Colour("red", (215, 35, 35), ("red", "crimson", "scarlet")),
    Colour("orange", (245, 130, 20), ("orange", "tangerine", "amber")),
    Colour("yellow", (245, 215, 40), ("yellow", "golden", "lemon")),
    Colour("green", (45, 160, 55), ("green", "emerald", "leafy green")),
    Colour("teal", (20, 150, 150), ("teal", "turquoise", "cyan")),
    Colour("blue", (40, 90, 225), ("blue", "cobalt", "sapphire")),
    Colour("navy", (20, 30, 100), ("navy", "dark blue", "midnight blue")),
    Colour("purple", (135, 50, 175), ("purple", "violet", "plum")),
    Colour("pink", (245, 120, 185), ("pink", "rose", "hot pink")),
    Colour("brown", (125, 75, 35), ("brown", "chocolate", "chestnut")),
    Colour("white", (245, 245, 245), ("white", "snow white", "ivory")),
    Colour("gray", (128, 128, 128), ("gray", "grey", "silver")),
    Colour("black", (20, 20, 20), ("black", "jet black", "ebony")),
)
COLOUR_BY_NAME: dict[str, Colour] = {c.name: c for c in COLOURS}

SHAPES: tuple[str, ...] = (
    "sun", "moon", "star", "heart", "house", "tree",
    "mountain", "car", "fish", "flower", "apple", "boat",
)
SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "sun": ("sun",), "moon": ("moon", "crescent moon"), "star": ("star",),
    "heart": ("heart",), "house": ("house", "little house", "cottage"), "tree": ("tree",),
    "mountain": ("mountain", "peak"), "car": ("car", "automobile"), "fish": ("fish",),
    "flower": ("flower", "blossom"), "apple": ("apple",), "boat": ("boat", "sailboat"),
}

# Scenes whose background is more than a flat colour. Every background is a function of the
# row only (plus sparse stars), which is what lets the evaluation find the object by pixels.
SCENES: tuple[str, ...] = ("sky", "sunset", "night", "grass", "sea")
SCENE_PHRASES: dict[str, tuple[str, ...]] = {
    "sky": ("in the sky", "in a blue sky", "against a clear sky", "under a clear blue sky"),
    "sunset": ("at sunset", "in a sunset sky", "against an orange sunset", "at dusk"),
    "night": ("at night", "in the night sky", "under a starry sky", "on a starry night"),
    "grass": ("on the grass", "in a green meadow", "on a grassy field", "on a lawn"),
    "sea": ("at sea", "over the sea", "above the ocean", "by the sea"),
}
BACKGROUNDS: tuple[str, ...] = tuple(c.name for c in COLOURS) + SCENES

POSITIONS: tuple[str, ...] = ("left", "right", "top", "bottom", "centre")
# Centre of the object, as a fraction of the picture (x, y).
POSITION_ANCHORS: dict[str, tuple[float, float]] = {
    "left": (0.27, 0.52), "right": (0.73, 0.52), "top": (0.5, 0.27),
    "bottom": (0.5, 0.73), "centre": (0.5, 0.5),
}
POSITION_PHRASES: dict[str, tuple[str, ...]] = {
    "left": ("on the left", "at the left", "to the left", "on the left side"),
    "right": ("on the right", "at the right", "to the right", "on the right side"),
    "top": ("at the top", "near the top", "in the upper part", "at the top of the picture"),
    "bottom": ("at the bottom", "near the bottom", "in the lower part",
               "at the bottom of the picture"),
    "centre": ("in the centre", "in the center", "in the middle", "centred"),
}

SIZES: tuple[str, ...] = ("small", "medium", "large")
SIZE_FRACTIONS: dict[str, float] = {"small": 0.26, "medium": 0.36, "large": 0.46}
SIZE_WORDS: dict[str, tuple[str, ...]] = {
    "small": ("small", "tiny", "little"), "medium": ("",), "large": ("large", "big", "huge"),
}

# Colour x thing pairs that never appear together in training, to measure generalisation.
HELD_OUT: frozenset[tuple[str, str]] = frozenset({
    ("green", "heart"), ("purple", "car"), ("yellow", "fish"), ("blue", "apple"),
    ("pink", "house"), ("orange", "star"), ("red", "tree"), ("white", "flower"),
    ("teal", "moon"), ("brown", "boat"), ("gray", "sun"), ("navy", "mountain"),
})

# What a prompt-rewriting LLM tends to append; captions carry some so the model learns to
# look past them (the rules brain adds e.g. "digital illustration, centered composition").
STYLE_SUFFIXES: tuple[str, ...] = (
    "digital illustration", "centered composition", "soft lighting", "high detail",
    "digital art", "flat colours", "simple shapes", "clean lines", "vivid colours",
    "minimalist", "children's book illustration", "vector art", "wide shot",
)


def background_rows(background: str, size: int = NATIVE_SIZE) -> np.ndarray:
    """The background's colour for each row, (size, 3) float32 in 0..255, without stars."""
    y = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None]

    def ramp(top: tuple[int, int, int], bottom: tuple[int, int, int],
             t: np.ndarray) -> np.ndarray:
        return np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t

    if background in COLOUR_BY_NAME:
        return np.repeat(np.asarray([COLOUR_BY_NAME[background].rgb], np.float32), size, 0)
    if background == "sky":
        return ramp((70, 140, 230), (175, 215, 245), y)
    if background == "sunset":
        upper = ramp((70, 40, 110), (225, 95, 115), np.clip(y / 0.55, 0, 1))
        lower = ramp((225, 95, 115), (250, 175, 70), np.clip((y - 0.55) / 0.45, 0, 1))
        return np.where(y < 0.55, upper, lower)
    if background == "night":
        return ramp((8, 10, 35), (30, 35, 80), y)
    if background == "grass":
        return np.where(y < 0.58, ramp((90, 160, 235), (185, 220, 245), y / 0.58),
                        ramp((70, 170, 60), (35, 115, 35), (y - 0.58) / 0.42))
    if background == "sea":
        sea = ramp((30, 105, 170), (10, 50, 110), (y - 0.5) / 0.5)
        # Lighter wave bands: still one colour per row.
        waves = (np.sin(y * 90.0) > 0.85).astype(np.float32) * 35.0
        return np.where(y < 0.5, ramp((90, 160, 235), (185, 220, 245), y / 0.5),
                        np.clip(sea + waves, 0, 255))
    raise ValueError(f"unknown background {background!r}")


def nearest_colour(rgb: np.ndarray) -> np.ndarray:
    """Index into COLOURS of the nearest named colour, for an (..., 3) array of pixels."""
    palette = np.asarray([c.rgb for c in COLOURS], np.float32)
    d = ((rgb[..., None, :].astype(np.float32) - palette) ** 2).sum(-1)
    return d.argmin(-1)
