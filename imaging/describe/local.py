"""The offline describer: the demo model's own vocabulary for its pictures, simple
analysis for everything else.

A picture drawn by the built-in demo model is a demo scene: one colour (or one sky, sea,
grass ... gradient) per row and one thing. imaging/demo/measure.py finds its background,
the thing's mask and colour and place; the silhouette is matched against each thing's
template. When the picture fits that world closely it is worded with imaging/demo's own
caption writer (so the demo model draws the words back); otherwise the prompts are modest
and say only what simple analysis sees: the main colours, how bright it is, its shape.
"""

from __future__ import annotations

import asyncio
import functools

import numpy as np
from PIL import Image

from imaging.demo.measure import measure, nearest_shape, shape_templates
from imaging.demo.scenes import Scene, Thing, caption
from imaging.demo.vocab import (
    COLOURS,
    NATIVE_SIZE,
    SCENE_PHRASES,
    SIZE_FRACTIONS,
    background_rows,
    nearest_colour,
)
from imaging.describe import PROMPTS, DescribeError

BACKGROUND_FIT = 14.0  # mean RGB distance of the row colours from a demo background
SHAPE_FIT = 0.55  # IoU of the silhouette with the best thing's template
MIN_SIDE = 8  # pixels: smaller is not a picture worth describing


class SceneDescriber:
    """`Describer` for the offline default (blocking work in a thread)."""

    name = "scene"

    async def describe(self, image: Image.Image) -> list[str]:
        return await asyncio.to_thread(describe_picture, image)


def describe_picture(image: Image.Image) -> list[str]:
    """Blocking: four prompts for `image` (demo wording when it is a demo scene)."""
    if min(image.size) < MIN_SIDE:
        raise DescribeError(f"that picture is too small to describe (at least {MIN_SIDE} px "
                            "a side)")
    rgb = image.convert("RGB")
    scene = demo_scene(rgb)
    return demo_prompts(scene) if scene is not None else general_prompts(rgb)


@functools.cache
def _templates() -> dict[str, np.ndarray]:
    return shape_templates()


def demo_scene(image: Image.Image) -> Scene | None:
    """The demo scene `image` shows, or None when it is not one (closely enough)."""
    small = image.resize((NATIVE_SIZE, NATIVE_SIZE), Image.Resampling.BOX)
    m = measure(small)
    if not m.found or m.colour is None or m.position is None:
        return None
    profile = np.median(np.asarray(small, np.float32), axis=1)
    if float(np.abs(background_rows(m.background) - profile).mean()) > BACKGROUND_FIT:
        return None
    shape, fit = nearest_shape(m.mask, _templates())
    if fit < SHAPE_FIT:
        return None
    ys, xs = np.nonzero(m.mask)
    side = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) / NATIVE_SIZE
    size = min(SIZE_FRACTIONS, key=lambda s: abs(SIZE_FRACTIONS[s] - side))
    return Scene(m.background, (Thing(shape, m.colour, m.position, size),))


def demo_prompts(scene: Scene) -> list[str]:
    """Four wordings of `scene` in the demo's caption vocabulary: the plainest first, then
    with the place, then other words for it, then with a style suffix."""
    thing = scene.things[0]
    where = SCENE_PHRASES[scene.background][0] if scene.background in SCENE_PHRASES \
        else f"on a {scene.background} background"
    out = [f"a {thing.colour} {thing.shape} {where}"]  # the names, as /imagine reads them
    for seed in range(64):
        rng = np.random.default_rng(seed)
        style = 0.0 if len(out) < 3 else 1.0
        say = len(out) != 2
        text = caption(scene, rng, complete=True, style=style, say_position=say)
        if text not in out:
            out.append(text)
        if len(out) == PROMPTS:
            break
    return out


def general_prompts(image: Image.Image) -> list[str]:
    """Modest prompts from what simple analysis sees: main colours, brightness, shape."""
    thumb = np.asarray(image.resize((48, 48), Image.Resampling.BOX), np.float32)
    pixels = thumb.reshape(-1, 3)
    votes = np.bincount(nearest_colour(pixels), minlength=len(COLOURS))
    order = [int(i) for i in np.argsort(-votes) if votes[i] >= 0.08 * len(pixels)]
    names = [COLOURS[i].name for i in order[:3]] or [COLOURS[int(votes.argmax())].name]
    luma = float((pixels @ np.asarray([0.299, 0.587, 0.114], np.float32)).mean())
    light = "dark" if luma < 85 else "bright" if luma > 170 else "softly lit"
    w, h = image.size
    frame = "wide" if w > 1.2 * h else "tall" if h > 1.2 * w else "square"
    colours = _listed(names)
    main, rest = names[0], _listed(names[1:]) if len(names) > 1 else ""
    return [
        f"a {light} {frame} picture in {colours}",
        f"a {frame} composition dominated by {main}" + (f", with touches of {rest}" if rest
                                                        else ", in one colour"),
        f"an abstract {light} image, {colours} colour palette",
        f"a simple {light} {main} scene, soft shapes, {frame} format",
    ]


def _listed(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
