"""Benign pictures to measure the image check's false positives on (`bench/safety.py`).

Two sets that need nothing but what is installed:
- `pattern_images`: rendered test images of the kinds that fooled the detector or could:
  colour wheels, gradients, checkerboards, stripes, blurred noise, plasma, flat colours,
  skin-toned blobs on plain ground, text cards, random shapes and colour bars;
- `packaged_photos`: the photos that installed packages ship (scikit-learn's two sample
  photos, when it is installed) and crops, flips and rescales of them.
Both are seeded, so every run measures the same pictures.  None shows a person.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

KINDS = ("wheel", "linear", "radial", "checker", "noise", "flat", "skin-blobs", "stripes",
         "plasma", "text", "shapes", "bars")


def _hsv(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], -1)


def _colour(rng: np.random.Generator, low: float = 0, high: float = 255) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.uniform(low, high, 3))
    return r, g, b


def _pattern(kind: str, size: int, rng: np.random.Generator) -> Image.Image:
    y, x = np.mgrid[0:size, 0:size]
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    if kind == "wheel":  # the colour wheel: hue by angle, saturation by radius
        u, v = x / size * 2 - 1, y / size * 2 - 1
        r = np.hypot(u, v)
        rgb = _hsv((np.arctan2(v, u) / (2 * np.pi) + rng.uniform()) % 1, np.clip(r, 0, 1), np.ones_like(r))
        rgb[r > 1] = rng.uniform(0, 1, 3)
        return Image.fromarray((rgb * 255).astype(np.uint8))
    if kind == "linear":
        t = (x / size)[..., None]
        return Image.fromarray((a * (1 - t) + b * t).astype(np.uint8))
    if kind == "radial":
        c = rng.uniform(0.2, 0.8, 2) * size
        t = np.clip(np.hypot(x - c[0], y - c[1]) / size, 0, 1)[..., None]
        return Image.fromarray((a * (1 - t) + b * t).astype(np.uint8))
    if kind in ("checker", "stripes"):
        step = int(rng.integers(6, 48))
        m = ((x // step + y // step) % 2 if kind == "checker" else ((x + y * rng.uniform(-1, 1)) // step) % 2)
        return Image.fromarray((a * m[..., None] + b * (1 - m[..., None])).astype(np.uint8))
    if kind == "noise":
        noise = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
        return noise.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 12))))
    if kind == "flat":
        return Image.new("RGB", (size, size), _colour(rng))
    if kind == "plasma":
        acc = np.zeros((size, size, 3))
        for octave in range(5):
            cells = rng.uniform(0, 255, (2 ** (octave + 2),) * 2 + (3,)).astype(np.uint8)
            acc += np.asarray(Image.fromarray(cells).resize((size, size), Image.Resampling.BICUBIC), float) / 2**octave
        return Image.fromarray(np.clip(acc / acc.max() * 255, 0, 255).astype(np.uint8))
    im = Image.new("RGB", (size, size), _colour(rng, 180, 255) if kind == "skin-blobs" else _colour(rng))
    draw = ImageDraw.Draw(im)
    if kind == "skin-blobs":  # skin-toned ellipses: the shapes the thresholds were set against
        for _ in range(int(rng.integers(1, 4))):
            x0, y0 = rng.uniform(0, 0.6, 2) * size
            w, h = rng.uniform(0.2, 0.5) * size, rng.uniform(0.2, 0.6) * size
            tone = (int(rng.uniform(170, 240)), int(rng.uniform(120, 180)), int(rng.uniform(90, 150)))
            draw.ellipse((x0, y0, x0 + w, y0 + h), fill=tone)
    elif kind == "text":
        font = ImageFont.load_default(size=size // 14)
        for j in range(8):
            draw.text((10, 10 + j * size // 9), f"easel test card {j}", fill=_colour(rng), font=font)
    elif kind == "shapes":
        for _ in range(int(rng.integers(3, 12))):
            x0, y0 = rng.uniform(0, 0.8, 2) * size
            w, h = rng.uniform(0.05, 0.4, 2) * size
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x0 + w, y0 + h), fill=_colour(rng))
    else:  # colour bars
        bars = rng.uniform(0, 255, (1, int(rng.integers(4, 12)), 3)).astype(np.uint8)
        return Image.fromarray(bars).resize((size, size), Image.Resampling.NEAREST)
    return im


def pattern_images(n: int, seed: int = 5) -> list[tuple[str, Image.Image]]:
    """`n` rendered test images (kind, image), cycling through `KINDS` at 256/512/768 px."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        out.append((kind, _pattern(kind, int(rng.choice([256, 512, 768])), rng).convert("RGB")))
    return out


def packaged_photos(n: int, seed: int = 5) -> list[Image.Image]:
    """Photos shipped inside installed packages, then crops of them, up to `n` images (an
    empty list when no package ships any)."""
    try:
        from sklearn.datasets import load_sample_images
    except ImportError:
        return []
    base = [Image.fromarray(a) for a in load_sample_images().images]
    rng = np.random.default_rng(seed)
    out = list(base)
    while base and len(out) < n:
        im = base[len(out) % len(base)]
        w, h = im.size
        scale = rng.uniform(0.35, 1.0)
        cw, ch = int(w * scale), min(h, int(h * scale * rng.uniform(0.7, 1.3)))
        x0, y0 = int(rng.uniform(0, w - cw + 1)), int(rng.uniform(0, h - ch + 1))
        crop = im.crop((x0, y0, x0 + cw, y0 + ch))
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        side = int(rng.choice([256, 512, 768]))
        out.append(crop.resize((side, max(1, int(side * ch / cw)))))
    return out[:n]
