"""Procedural captioned scenes, drawn with PIL: the demo model's whole training set.

A `Scene` is a background and one or two things (shape, colour, position, size);
`caption` words it in one of many ways (synonyms, templates, word orders, optional rewriter
style words) and `render` draws it at 4x and box-filters it down, so edges are anti-aliased
like a real picture's. Both take a numpy `Generator`, so a seed fixes the data set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
from PIL import Image, ImageDraw

from imaging.demo.vocab import (
    BACKGROUNDS,
    COLOUR_BY_NAME,
    COLOURS,
    HELD_OUT,
    NATIVE_SIZE,
    POSITION_ANCHORS,
    POSITION_PHRASES,
    POSITIONS,
    SCENE_PHRASES,
    SCENES,
    SHAPE_WORDS,
    SHAPES,
    SIZE_FRACTIONS,
    SIZE_WORDS,
    SIZES,
    STYLE_SUFFIXES,
    background_rows,
)

Split = Literal["train", "heldout", "any"]
RGB = tuple[int, int, int]

SUPERSAMPLE = 4
# An object's colour must differ this much (RGB distance) from the background rows it
# covers, or neither a person nor the pixel evaluation could tell it apart.
MIN_CONTRAST = 80.0


@dataclass(frozen=True, slots=True)
class Thing:
    shape: str
    colour: str
    position: str
    size: str


@dataclass(frozen=True, slots=True)
class Scene:
    background: str
    things: tuple[Thing, ...]


# ---- sampling -----------------------------------------------------------------------------

def _contrast_ok(colour: str, background: str, position: str, size: str) -> bool:
    rows = background_rows(background)
    _, cy = POSITION_ANCHORS[position]
    half = SIZE_FRACTIONS[size] / 2 + 0.04
    lo, hi = (int(max(0.0, cy - half) * NATIVE_SIZE), int(min(1.0, cy + half) * NATIVE_SIZE))
    rgb = np.asarray(COLOUR_BY_NAME[colour].rgb, np.float32)
    return float(np.sqrt(((rows[lo:hi] - rgb) ** 2).sum(-1)).min()) >= MIN_CONTRAST


_T = TypeVar("_T")


def _pick(rng: np.random.Generator, items: Sequence[_T]) -> _T:
    return items[int(rng.integers(len(items)))]


def sample_thing(rng: np.random.Generator, background: str, split: Split,
                 position: str | None = None, size: str | None = None) -> Thing:
    for _ in range(1000):
        if split == "heldout":
            colour, shape = _pick(rng, sorted(HELD_OUT))
        else:
            colour, shape = _pick(rng, [c.name for c in COLOURS]), _pick(rng, SHAPES)
            if split == "train" and (colour, shape) in HELD_OUT:
                continue
        pos = position or _pick(rng, POSITIONS)
        sz = size or _pick(rng, SIZES)
        if _contrast_ok(colour, background, pos, sz):
            return Thing(shape, colour, pos, sz)
    raise RuntimeError(f"no thing fits on {background!r}")  # cannot happen with this vocab


def sample_background(rng: np.random.Generator) -> str:
    # Scenes are rarer in the list (5 of 18) but harder to draw: give them 40% of pictures.
    if rng.random() < 0.4:
        return _pick(rng, SCENES)
    return _pick(rng, [c.name for c in COLOURS])


def sample_scene(rng: np.random.Generator, split: Split = "train",
                 two_things: float = 0.0) -> Scene:
    background = sample_background(rng)
    if rng.random() < two_things:
        first, second = ("left", "right") if rng.random() < 0.5 else ("top", "bottom")
        a = sample_thing(rng, background, split, first, _pick(rng, ("small", "medium")))
        b = sample_thing(rng, background, split, second, _pick(rng, ("small", "medium")))
        return Scene(background, (a, b))
    return Scene(background, (sample_thing(rng, background, split),))


# ---- captions -----------------------------------------------------------------------------

def _article(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def _thing_phrase(t: Thing, rng: np.random.Generator, colour: bool, size: bool) -> str:
    shape = _pick(rng, SHAPE_WORDS[t.shape])
    colour_word = _pick(rng, COLOUR_BY_NAME[t.colour].synonyms) if colour else ""
    size_word = _pick(rng, SIZE_WORDS[t.size]) if size else ""
    if colour_word and rng.random() < 0.15:
        core = f"{shape} in {colour_word}" if rng.random() < 0.5 else f"{colour_word}-coloured {shape}"
        return _article(" ".join(w for w in (size_word, core) if w))
    return _article(" ".join(w for w in (size_word, colour_word, shape) if w))


def _background_phrase(bg: str, rng: np.random.Generator) -> tuple[str, str]:
    """(adverbial phrase, noun phrase): "on a navy background" / "a navy background"."""
    if bg in SCENE_PHRASES:
        nouns = {"sky": ("a blue sky", "a clear sky"), "sunset": ("a sunset sky", "an orange sunset"),
                 "night": ("a starry night sky", "a night sky"),
                 "grass": ("a green meadow", "a grassy field"),
                 "sea": ("the open sea", "an ocean view")}[bg]
        return _pick(rng, SCENE_PHRASES[bg]), _pick(rng, nouns)
    word = _pick(rng, COLOUR_BY_NAME[bg].synonyms)
    adverbial = _pick(rng, (f"on {_article(word + ' background')}",
                            f"against {_article(word + ' backdrop')}", f"on {word}",
                            f"with {_article(word + ' background')}",
                            f"on a plain {word} background"))
    return adverbial, _pick(rng, (_article(f"{word} background"), f"a plain {word} backdrop"))


def caption(scene: Scene, rng: np.random.Generator, *, complete: bool = False,
            style: float = 0.3, say_position: bool | None = None) -> str:
    """Word `scene` at random. Unless `complete`, some attributes go unsaid (the model then
    learns that unsaid means "any"); `style` is the chance of rewriter-style trailing words;
    `say_position` forces the place in or out (two things always say theirs)."""
    keep = (lambda p: True) if complete else (lambda p: rng.random() >= p)
    say_pos = keep(0.12) if say_position is None else say_position
    parts = []
    for t in scene.things:
        phrase = _thing_phrase(t, rng, colour=keep(0.08), size=keep(0.3))
        if say_pos or len(scene.things) > 1:
            phrase += " " + _pick(rng, POSITION_PHRASES[t.position])
        parts.append(phrase)
    things = " and ".join(parts)
    bg_adv, bg_noun = _background_phrase(scene.background, rng)
    if not keep(0.08):
        text = things
    else:
        form = int(rng.integers(5))
        if form == 0 and len(scene.things) == 1 and say_pos:
            # Put the place first: "on the left, a red heart on a blue background".
            lead, _, rest = things.partition(" ")
            pos_words = [p for p in POSITION_PHRASES[scene.things[0].position] if p in things]
            if pos_words:
                core = things.replace(" " + pos_words[0], "")
                text = f"{pos_words[0]}, {core} {bg_adv}"
            else:
                text = f"{things} {bg_adv}"
        elif form == 1:
            text = f"{bg_noun} with {things}"
        elif form == 2:
            text = f"{things}, {bg_adv}"
        else:
            text = f"{things} {bg_adv}"
    if rng.random() < 0.25:
        text = _pick(rng, ("a picture of", "an image of", "a drawing of", "draw",
                           "an illustration of", "a simple picture of")) + " " + text
    if rng.random() < style:
        k = int(rng.integers(1, 5))
        picks = rng.choice(len(STYLE_SUFFIXES), size=k, replace=False)
        text += ", " + ", ".join(STYLE_SUFFIXES[int(i)] for i in picks)
    return text


# ---- drawing ------------------------------------------------------------------------------

def _darken(rgb: RGB, accent: RGB, fallback: RGB) -> RGB:
    """An accent colour that stays visible on the body: `fallback` when they are close."""
    close = sum((a - b) ** 2 for a, b in zip(rgb, accent, strict=True)) < 60**2
    return fallback if close else accent


def _draw_thing(draw: ImageDraw.ImageDraw, mask: ImageDraw.ImageDraw, shape: str,
                cx: float, cy: float, side: float, rgb: RGB) -> None:
    def p(u: float, v: float) -> tuple[float, float]:
        return (cx + u * side, cy + v * side)

    def ellipse(u0: float, v0: float, u1: float, v1: float, fill: RGB) -> None:
        for d, f in ((draw, fill), (mask, 255)):
            d.ellipse([p(u0, v0), p(u1, v1)], fill=f)

    def circle(u: float, v: float, r: float, fill: RGB) -> None:
        ellipse(u - r, v - r, u + r, v + r, fill)

    def poly(points: list[tuple[float, float]], fill: RGB) -> None:
        for d, f in ((draw, fill), (mask, 255)):
            d.polygon([p(u, v) for u, v in points], fill=f)

    def rect(u0: float, v0: float, u1: float, v1: float, fill: RGB) -> None:
        for d, f in ((draw, fill), (mask, 255)):
            d.rectangle([p(u0, v0), p(u1, v1)], fill=f)

    dark = _darken(rgb, (25, 25, 25), (95, 95, 95))
    if shape == "sun":
        circle(0, 0, 0.3, rgb)
        for k in range(10):
            a = 2 * math.pi * k / 10
            da = 0.13
            poly([(0.34 * math.cos(a - da), 0.34 * math.sin(a - da)),
                  (0.5 * math.cos(a), 0.5 * math.sin(a)),
                  (0.34 * math.cos(a + da), 0.34 * math.sin(a + da))], rgb)
    elif shape == "star":
        pts = []
        for k in range(10):
            r = 0.5 if k % 2 == 0 else 0.2
            a = -math.pi / 2 + math.pi * k / 5
            pts.append((r * math.cos(a), r * math.sin(a) + 0.04))
        poly(pts, rgb)
    elif shape == "heart":
        circle(-0.21, -0.14, 0.25, rgb)
        circle(0.21, -0.14, 0.25, rgb)
        poly([(-0.455, -0.06), (0.455, -0.06), (0, 0.45)], rgb)
    elif shape == "house":
        rect(-0.34, -0.05, 0.34, 0.45, rgb)
        poly([(-0.47, -0.03), (0.47, -0.03), (0, -0.45)], rgb)
        rect(-0.08, 0.2, 0.08, 0.45, dark)
    elif shape == "tree":
        rect(-0.07, 0.1, 0.07, 0.5, _darken(rgb, (110, 70, 35), (60, 35, 15)))
        circle(0, -0.13, 0.34, rgb)
    elif shape == "mountain":
        poly([(-0.5, 0.42), (0.5, 0.42), (0, -0.45)], rgb)
        poly([(-0.13, -0.19), (0.13, -0.19), (0, -0.45)],
             _darken(rgb, (250, 250, 250), (190, 190, 205)))
    elif shape == "car":
        poly([(-0.28, 0.0), (0.3, 0.0), (0.17, -0.24), (-0.15, -0.24)], rgb)
        for d, f in ((draw, rgb), (mask, 255)):
            d.rounded_rectangle([p(-0.5, -0.02), p(0.5, 0.26)], radius=0.08 * side, fill=f)
        circle(-0.27, 0.27, 0.12, dark)
        circle(0.27, 0.27, 0.12, dark)
    elif shape == "fish":
        ellipse(-0.4, -0.22, 0.24, 0.22, rgb)
        poly([(0.16, 0.0), (0.5, -0.22), (0.5, 0.22)], rgb)
        circle(-0.22, -0.05, 0.045, dark)
    elif shape == "flower":
        for k in range(6):
            a = 2 * math.pi * k / 6
            circle(0.27 * math.cos(a), 0.27 * math.sin(a), 0.18, rgb)
        circle(0, 0, 0.15, _darken(rgb, (245, 215, 40), (245, 130, 20)))
    elif shape == "apple":
        circle(-0.12, 0.06, 0.33, rgb)
        circle(0.12, 0.06, 0.33, rgb)
        rect(-0.03, -0.45, 0.03, -0.22, _darken(rgb, (110, 70, 35), (60, 35, 15)))
        ellipse(0.03, -0.44, 0.27, -0.3, _darken(rgb, (45, 160, 55), (20, 95, 30)))
    elif shape == "boat":
        poly([(-0.5, 0.18), (0.5, 0.18), (0.34, 0.45), (-0.34, 0.45)], rgb)
        poly([(0.03, -0.45), (0.03, 0.13), (0.4, 0.13)], rgb)
        poly([(-0.03, -0.32), (-0.03, 0.13), (-0.3, 0.13)], rgb)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def render(scene: Scene, rng: np.random.Generator, size: int = NATIVE_SIZE
           ) -> tuple[Image.Image, list[np.ndarray]]:
    """The picture (RGB, size x size) and one boolean mask per thing."""
    big = size * SUPERSAMPLE
    rows = background_rows(scene.background, big)
    rows = np.clip(rows + rng.uniform(-6, 6, size=3), 0, 255)  # no two pictures identical
    canvas = np.repeat(rows[:, None, :], big, axis=1).astype(np.uint8)
    img = Image.fromarray(canvas, "RGB")
    draw = ImageDraw.Draw(img)
    if scene.background == "night":
        for _ in range(int(rng.integers(18, 36))):
            x, y = rng.uniform(0, big), rng.uniform(0, big * 0.85)
            r = SUPERSAMPLE * rng.uniform(0.5, 0.9)
            draw.rectangle([x - r, y - r, x + r, y + r], fill=(235, 235, 200))
    masks = []
    for t in scene.things:
        m = Image.new("L", (big, big), 0)
        mdraw = ImageDraw.Draw(m)
        ax, ay = POSITION_ANCHORS[t.position]
        cx = (ax + rng.uniform(-0.035, 0.035)) * big
        cy = (ay + rng.uniform(-0.035, 0.035)) * big
        side = (SIZE_FRACTIONS[t.size] + rng.uniform(-0.025, 0.025)) * big
        base = np.asarray(COLOUR_BY_NAME[t.colour].rgb) + rng.uniform(-10, 10, size=3)
        rgb: RGB = tuple(int(v) for v in np.clip(base, 0, 255))  # type: ignore[assignment]
        if t.shape == "moon":
            _draw_moon(img, m, cx, cy, side, rgb)
        else:
            _draw_thing(draw, mdraw, t.shape, cx, cy, side, rgb)
        masks.append(np.asarray(m.resize((size, size), Image.Resampling.BOX)) >= 128)
    return img.resize((size, size), Image.Resampling.BOX), masks


def _draw_moon(img: Image.Image, mask: Image.Image, cx: float, cy: float, side: float,
               rgb: RGB) -> None:
    """A crescent: a disc minus an offset disc, pasted through its own mask so the
    background (gradient, stars) shows through the cut."""
    crescent = Image.new("L", img.size, 0)
    d = ImageDraw.Draw(crescent)
    r, r2, off = 0.45 * side, 0.38 * side, (0.22 * side, -0.1 * side)
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    d.ellipse([cx + off[0] - r2, cy + off[1] - r2, cx + off[0] + r2, cy + off[1] + r2], fill=0)
    img.paste(Image.new("RGB", img.size, rgb), (0, 0), crescent)
    mask.paste(255, (0, 0), crescent)


# When a prompt does not say where its one thing goes ("a red heart on a blue background"),
# it goes in the centre this often, as a person would expect; the rest stay anywhere. A
# small model asked for "anywhere" averages the places and draws two half-things.
UNSAID_CENTRE = 0.8
UNSAID_PLACE = 0.2  # share of captions that leave the place unsaid (users often do)


def make_dataset(n: int, rng: np.random.Generator, split: Split = "train",
                 two_things: float = 0.2) -> tuple[list[Scene], list[str]]:
    """`n` scenes and one caption each."""
    scenes, captions = [], []
    for _ in range(n):
        scene = sample_scene(rng, split, two_things)
        say = rng.random() >= UNSAID_PLACE
        if not say and len(scene.things) == 1 and rng.random() < UNSAID_CENTRE:
            t = scene.things[0]
            if _contrast_ok(t.colour, scene.background, "centre", t.size):
                scene = Scene(scene.background, (Thing(t.shape, t.colour, "centre", t.size),))
        scenes.append(scene)
        captions.append(caption(scene, rng, say_position=say))
    return scenes, captions


__all__ = ["BACKGROUNDS", "Scene", "Thing", "caption", "make_dataset", "render",
           "sample_scene"]
