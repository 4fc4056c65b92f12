"""Uploads (imaging/uploads.py): upright as the camera meant, only the formats users are
told about, the pixel count bounded before anything is decoded, and a bounded number of
decodes at once."""

from __future__ import annotations

import asyncio
import io
import struct
import threading
import zlib

import pytest
from PIL import Image

from imaging.uploads import (
    MAX_PIXELS,
    DecodeSlots,
    UploadError,
    open_upload,
    prepare_upload,
)

LEFT, RIGHT = (0, 0, 255), (255, 0, 0)


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **options)
    return buf.getvalue()


def _photo(orientation: int) -> bytes:
    """A 160 × 96 JPEG, blue on its left half, tagged with an EXIF orientation: what a
    phone stores when it was held another way."""
    image = Image.new("RGB", (160, 96), RIGHT)
    image.paste(LEFT, (0, 0, 80, 96))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(image, "JPEG", quality=95, exif=exif.tobytes())


def _near(pixel: tuple[int, ...], colour: tuple[int, int, int]) -> bool:
    return all(abs(a - b) < 40 for a, b in zip(pixel, colour, strict=False))


# Orientation -> where the blue half ends up once shown as the camera meant.
@pytest.mark.parametrize(("orientation", "size", "blue_at"), [
    (1, (160, 96), (20, 48)),   # as stored
    (3, (160, 96), (140, 48)),  # upside down: blue on the right
    (6, (96, 160), (48, 20)),   # turned clockwise: blue on top
    (8, (96, 160), (48, 140)),  # turned anticlockwise: blue at the bottom
])
def test_phone_photos_come_out_upright(orientation, size, blue_at):
    image = prepare_upload(_photo(orientation), max_side=1024)
    assert image.size == size
    assert _near(image.getpixel(blue_at), LEFT)


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "ICO", "PPM", "TGA"])
def test_only_png_jpeg_and_webp_are_opened(fmt):
    data = _encode(Image.new("RGB", (64, 64), (1, 2, 3)), fmt)
    for check in (lambda: open_upload(data), lambda: prepare_upload(data, 1024)):
        with pytest.raises(UploadError, match="PNG, JPEG and WebP"):
            check()
    for fmt_ok in ("PNG", "JPEG", "WEBP"):
        ok = _encode(Image.new("RGB", (64, 64), (1, 2, 3)), fmt_ok)
        assert prepare_upload(ok, 1024).size == (64, 64)


def _png_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes whose header claims width × height pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + \
        chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) is rewritten to claim width × height."""
    data = bytearray(_encode(Image.new("RGB", (16, 16), (9, 9, 9)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize(("data", "said"), [
    (_png_claiming(20_000, 20_000), ""),  # past Pillow's own bound, too
    (_png_claiming(5_000, 5_000), "5000×5000"),
    (_png_claiming(MAX_PIXELS + 1, 1), f"{MAX_PIXELS + 1}×1"),
    # A JPEG decodes at 1/8 for nothing, so only Pillow's own bound is ever past ours.
    (_jpeg_claiming(40_000, 40_000), ""),
])
def test_huge_pictures_in_small_files_are_refused_before_decoding(data, said):
    assert len(data) < 2000
    with pytest.raises(UploadError) as refused:
        prepare_upload(data, 1024)
    message = str(refused.value)
    assert "too large" in message and "megapixels" in message and said in message


def test_a_big_jpeg_decodes_at_a_reduced_scale():
    photo = _encode(Image.new("RGB", (6000, 4000), (200, 100, 50)), "JPEG", quality=50)
    opened = open_upload(photo, max_side=1024)
    assert opened.size == (1500, 1000)  # 1/4: still covers the 1024 it is fitted to
    assert prepare_upload(photo, 1024).size == (1024, 680)


async def test_decodes_wait_their_turn():
    slots = DecodeSlots(limit=2)
    loop = asyncio.get_running_loop()
    entered = asyncio.Semaphore(0)
    release = threading.Event()

    def decode(i: int) -> int:
        loop.call_soon_threadsafe(entered.release)
        assert release.wait(30)
        return i

    runs = [asyncio.create_task(slots.run(decode, i)) for i in range(5)]
    for _ in range(2):
        await entered.acquire()
    # Two decode; the three others wait at the door, none of them in a thread yet.
    assert slots.busy == 2
    release.set()
    assert await asyncio.gather(*runs) == [0, 1, 2, 3, 4]
    assert slots.busy == 0
