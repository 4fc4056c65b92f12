"""Measure a 64 px demo picture from its pixels: background, the object's mask, colour,
position, and (with a small CNN trained on the generator's own renders) its shape.

Every background is one colour per row (plus sparse stars), and an object never covers
half a row, so the per-row median is the background and whatever differs from it is the
object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from imaging.demo.vocab import (
    BACKGROUNDS,
    COLOURS,
    NATIVE_SIZE,
    POSITION_ANCHORS,
    SHAPES,
    background_rows,
    nearest_colour,
)

OBJECT_THRESHOLD = 55.0  # RGB distance from the row's background that counts as object
CROP = 32  # the shape classifier's input side


@dataclass(frozen=True, slots=True)
class Measurement:
    background: str
    mask: np.ndarray  # bool (64, 64); empty when no object was found
    colour: str | None
    position: str | None

    @property
    def found(self) -> bool:
        return bool(self.mask.any())


def _pixels(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, Image.Image):
        if image.size != (NATIVE_SIZE, NATIVE_SIZE):
            image = image.resize((NATIVE_SIZE, NATIVE_SIZE), Image.Resampling.BOX)
        image = np.asarray(image.convert("RGB"))
    return image.astype(np.float32)


def classify_background(profile: np.ndarray) -> str:
    """The named background whose row colours are closest to `profile` (64, 3)."""
    dists = [np.abs(background_rows(bg) - profile).mean() for bg in BACKGROUNDS]
    return BACKGROUNDS[int(np.argmin(dists))]


def object_mask(pixels: np.ndarray, profile: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    far = np.sqrt(((pixels - profile[:, None, :]) ** 2).sum(-1)) > OBJECT_THRESHOLD
    labels, n = ndimage.label(far)
    if n == 0:
        return far
    sizes = ndimage.sum(far, labels, index=range(1, n + 1))
    biggest = labels == (int(np.argmax(sizes)) + 1)
    if biggest.sum() < 6:  # a star in the night sky, not an object
        return np.zeros_like(far)
    return ndimage.binary_fill_holes(biggest)


def position_of(mask: np.ndarray) -> str:
    ys, xs = np.nonzero(mask)
    cx, cy = (xs.mean() + 0.5) / mask.shape[1], (ys.mean() + 0.5) / mask.shape[0]
    return min(POSITION_ANCHORS, key=lambda p: (POSITION_ANCHORS[p][0] - cx) ** 2
               + (POSITION_ANCHORS[p][1] - cy) ** 2)


def colour_of(pixels: np.ndarray, mask: np.ndarray) -> str:
    """The most common named colour inside the mask, ignoring its anti-aliased rim (and
    accents such as wheels, which are smaller than the body)."""
    from scipy import ndimage

    inner = ndimage.binary_erosion(mask)
    use = inner if inner.sum() >= 4 else mask
    votes = np.bincount(nearest_colour(pixels[use]), minlength=len(COLOURS))
    return COLOURS[int(votes.argmax())].name


def measure(image: Image.Image | np.ndarray) -> Measurement:
    pixels = _pixels(image)
    profile = np.median(pixels, axis=1)
    mask = object_mask(pixels, profile)
    if not mask.any():
        return Measurement(classify_background(profile), mask, None, None)
    return Measurement(classify_background(profile), mask, colour_of(pixels, mask),
                       position_of(mask))


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


# ---- shape ------------------------------------------------------------------------------

def mask_crop(mask: np.ndarray) -> np.ndarray:
    """The mask's bounding box, padded square and scaled to CROP x CROP, float 0..1: what
    the shape classifier sees (size and place removed, only the silhouette left)."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    side = max(y1 - y0, x1 - x0)
    box = np.zeros((side, side), np.uint8)
    oy, ox = (side - (y1 - y0)) // 2, (side - (x1 - x0)) // 2
    box[oy:oy + y1 - y0, ox:ox + x1 - x0] = mask[y0:y1, x0:x1] * 255
    crop = Image.fromarray(box).resize((CROP, CROP), Image.Resampling.BILINEAR)
    return np.asarray(crop, np.float32) / 255.0


def build_shape_classifier() -> Any:  # -> torch.nn.Module
    import torch
    from torch import nn

    def block(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))

    torch.manual_seed(0)
    return nn.Sequential(block(1, 16), block(16, 32), block(32, 64), nn.Flatten(),
                         nn.Linear(64 * (CROP // 8) ** 2, 128), nn.ReLU(),
                         nn.Linear(128, len(SHAPES)))


def _shape_samples(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Silhouettes as the evaluation will see them: measured from renders, not drawn."""
    # lazy: the scene renderer, only when measuring
    from imaging.demo.scenes import render, sample_scene

    rng = np.random.default_rng(seed)
    xs: list[np.ndarray] = []
    ys: list[int] = []
    while len(xs) < n:
        scene = sample_scene(rng, "any")
        m = measure(render(scene, rng)[0])
        if m.found:
            xs.append(mask_crop(m.mask))
            ys.append(SHAPES.index(scene.things[0].shape))
    return np.stack(xs), np.asarray(ys)


def train_shape_classifier(n: int = 4000, steps: int = 600, seed: int = 7) -> tuple[Any, float]:
    """A CNN over silhouettes, and its accuracy on fresh renders (the metric's ceiling)."""
    import torch
    from torch import nn

    x, y = _shape_samples(n, seed)
    xt, yt = torch.from_numpy(x)[:, None], torch.from_numpy(y)
    model = build_shape_classifier()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(len(xt), (64,), generator=gen)
        batch = xt[idx]
        # Generated silhouettes are softer than drawn ones: blur half the batch.
        soft = torch.rand(len(batch), generator=gen) < 0.5
        blurred = nn.functional.avg_pool2d(batch, 3, stride=1, padding=1)
        batch = torch.where(soft[:, None, None, None], blurred, batch)
        loss = nn.functional.cross_entropy(model(batch), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    xv, yv = _shape_samples(600, seed + 1)
    with torch.no_grad():
        acc = float((model(torch.from_numpy(xv)[:, None]).argmax(1).numpy() == yv).mean())
    return model, acc


def classify_shapes(model: Any, masks: list[np.ndarray]) -> list[str | None]:
    import torch

    out: list[str | None] = [None] * len(masks)
    found = [i for i, m in enumerate(masks) if m.any()]
    if not found:
        return out
    batch = torch.from_numpy(np.stack([mask_crop(masks[i]) for i in found]))[:, None]
    with torch.no_grad():
        pred = model(batch).argmax(1).tolist()
    for i, p in zip(found, pred, strict=True):
        out[i] = SHAPES[p]
    return out


def shape_templates() -> dict[str, np.ndarray]:
    """Each thing's silhouette (as `mask_crop` sees it) from one clean render: a cheap,
    training-free shape check for tests (the CNN above is the evaluation's measure)."""
    # lazy: the scene renderer, only when measuring
    from imaging.demo.scenes import Scene, Thing, render

    rng = np.random.default_rng(0)
    out = {}
    for shape in SHAPES:
        scene = Scene("black", (Thing(shape, "white", "centre", "large"),))
        out[shape] = mask_crop(measure(render(scene, rng)[0]).mask) >= 0.5
    return out


def nearest_shape(mask: np.ndarray, templates: dict[str, np.ndarray]) -> tuple[str, float]:
    """(the template shape whose silhouette overlaps `mask`'s most, that IoU)."""
    crop = mask_crop(mask) >= 0.5
    scores = {shape: iou(crop, t) for shape, t in templates.items()}
    best = max(scores, key=scores.__getitem__)
    return best, scores[best]
