"""The invisible watermark: survives what chat channels do, absent where it was not put."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from imaging.provenance import ecc
from imaging.provenance.marker import Watermarker

KEY = bytes(range(32))


def _photo_like(seed: int, size: int = 512) -> Image.Image:
    """1/f noise with soft edges and some colour: statistics close to a photograph."""
    rng = np.random.default_rng(seed)
    f = np.hypot(np.fft.fftfreq(size)[:, None], np.fft.fftfreq(size)[None, :])
    f[0, 0] = 1.0

    def pink(beta: float) -> np.ndarray:
        noise = rng.normal(size=(size, size)) + 1j * rng.normal(size=(size, size))
        s = np.fft.ifft2(noise / f**beta).real
        return (s - s.mean()) / s.std()

    lum = 0.5 * pink(1.6) + 0.6 * np.tanh(4 * pink(1.8)) + 0.25 * pink(0.8)
    rgb = 120 + 40 * lum[..., None] * rng.uniform(0.6, 1.3, 3)
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))


def _drawn(seed: int, size: int = 512) -> Image.Image:
    """Flat shapes on a plain background, blurred a little: like the demo model's scenes."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x, y = rng.integers(0, size, 2)
        w, h = rng.integers(size // 10, size // 2, 2)
        draw.ellipse((x, y, x + w, y + h), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return img.filter(ImageFilter.GaussianBlur(3))


def _jpeg(img: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue()))


def _psnr(a: Image.Image, b: Image.Image) -> float:
    err = np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2)
    return float(10 * np.log10(255**2 / err))


@pytest.fixture(scope="module")
def marked() -> list[tuple[Image.Image, Image.Image, int]]:
    wm = Watermarker(KEY)
    out = []
    for i, src in enumerate([_photo_like(1), _drawn(2), _photo_like(3, 768).crop((0, 0, 768, 512))]):
        out.append((src, wm.embed(src, 0xE45E1, 1000 + i), 1000 + i))
    return out


def test_the_mark_is_invisible_by_psnr(marked):
    for src, img, _ in marked:
        assert img.size == src.size and img.mode == "RGB"
        assert _psnr(src, img) >= 38.0


def _attacked(img: Image.Image, attack: str) -> Image.Image:
    w, h = img.size
    if attack == "png":
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        return Image.open(io.BytesIO(buf.getvalue()))
    if attack == "jpeg75":
        return _jpeg(img, 75)
    if attack == "half-size":
        return img.resize((w // 2, h // 2), Image.Resampling.LANCZOS)
    if attack == "jpeg75-half-size":
        return _jpeg(img.resize((w // 2, h // 2), Image.Resampling.LANCZOS), 75)
    if attack == "crop-centre-10":
        return img.crop((w // 20, h // 20, w - w // 20, h - h // 20))
    assert attack == "crop-edge-10"
    return img.crop((0, 0, w - w // 10, h - h // 10))


@pytest.mark.parametrize("attack", ["png", "jpeg75", "half-size", "jpeg75-half-size",
                                    "crop-centre-10", "crop-edge-10"])
def test_the_mark_survives(marked, attack):
    wm = Watermarker(KEY)
    for _, img, gen in marked:
        found = wm.detect(_attacked(img, attack))
        assert found.found, attack
        assert (found.deployment_id, found.generation_key) == (0xE45E1, gen)


def test_unmarked_and_foreign_images_are_not_detected(marked):
    wm = Watermarker(KEY)
    other = Watermarker(bytes(32))
    images = [src for src, _, _ in marked] + [_photo_like(s, 256) for s in range(10, 16)]
    images += [Image.new("RGB", (300, 200), (255, 255, 255)), _drawn(20)]
    images.append(other.embed(_photo_like(30), 1, 2))  # another deployment's key
    for img in images:
        assert not wm.detect(img).found


def test_alpha_is_kept_and_payload_bounds_checked():
    wm = Watermarker(KEY)
    src = _drawn(5, 256).convert("RGBA")
    src.putalpha(128)
    out = wm.embed(src, 1, 2)
    assert out.mode == "RGBA" and out.getpixel((3, 3))[3] == 128
    assert wm.detect(out).generation_key == 2
    with pytest.raises(ValueError):
        wm.embed(src, 2**32, 0)
    with pytest.raises(ValueError):
        Watermarker(b"short")


def test_error_correction_fixes_noise_and_rejects_garbage():
    payload = bytes.fromhex("0123456789abcdef")
    code = ecc.encode(payload)
    assert code.shape == (ecc.CODED_BITS,)
    rng = np.random.default_rng(0)
    noisy = (1.0 - 2.0 * code) + rng.normal(0, 0.6, code.size)
    assert ecc.decode(noisy) == payload
    assert all(ecc.decode(rng.normal(size=code.size)) is None for _ in range(200))
