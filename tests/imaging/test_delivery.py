"""Teams picture limits and the image store."""

from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image

from imaging.delivery import TEAMS_LIMITS, fit_image
from imaging.store import FileImageStore


def _noise(w: int, h: int) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def test_large_noisy_image_is_fitted_under_teams_limits():
    enc = fit_image(_noise(2048, 1536), TEAMS_LIMITS)
    assert len(enc.data) <= 1_000_000
    img = Image.open(io.BytesIO(enc.data))
    assert max(img.size) <= 1024 and img.size == (enc.width, enc.height)
    assert abs(img.width / img.height - 2048 / 1536) < 0.01  # aspect kept
    assert enc.resized


def test_small_image_stays_lossless_png():
    src = Image.new("RGB", (256, 256), (200, 30, 30))
    enc = fit_image(src, TEAMS_LIMITS)
    assert enc.content_type == "image/png" and not enc.resized
    assert Image.open(io.BytesIO(enc.data)).getpixel((5, 5)) == (200, 30, 30)


async def test_store_ids_are_unguessable_and_validated(tmp_path):
    store = FileImageStore(tmp_path)
    a = await store.save(Image.new("RGB", (8, 8)))
    b = await store.save(Image.new("RGB", (8, 8)))
    assert a.image_id != b.image_id and len(a.image_id) >= 32
    assert await store.read(a.image_id) is not None
    for bad in ("../" + a.image_id, a.image_id + "/..", "x", a.image_id[:-1] + "!"):
        assert await store.read(bad) is None
    assert not [p for p in tmp_path.rglob("*.tmp")]
    assert os.path.commonpath([store.path_for(a.image_id), tmp_path]) == str(tmp_path)
