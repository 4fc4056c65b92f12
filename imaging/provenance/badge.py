"""The optional visible mark: a small "AI" badge in a corner, as Bing Image Creator does.

It is drawn before the invisible watermark, so the watermark covers it too and a badge
never damages the mark.
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

BADGE_TEXT = "AI"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow's bundled font, via FreeType
    except (ImportError, OSError, TypeError):  # a Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def add_badge(image: Image.Image, text: str = BADGE_TEXT) -> Image.Image:
    """A copy of `image` with a translucent rounded badge in the bottom-right corner,
    sized to ~5 % of the shorter side (at least 14 px high)."""
    base = image.convert("RGBA")
    side = min(base.size)
    height = max(14, round(side * 0.05))
    margin = max(3, round(side * 0.02))
    font = _font(max(9, round(height * 0.62)))
    draw = ImageDraw.Draw(base)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    width = (right - left) + height  # half a height of padding either side
    x1, y1 = base.width - margin, base.height - margin
    x0, y0 = x1 - width, y1 - height
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    odraw = ImageDraw.Draw(overlay)
    odraw.rounded_rectangle((x0, y0, x1, y1), radius=height // 2, fill=(20, 20, 20, 150))
    tx = x0 + (width - (right - left)) / 2 - left
    ty = y0 + (height - (bottom - top)) / 2 - top
    odraw.text((tx, ty), text, font=font, fill=(255, 255, 255, 235))
    out = Image.alpha_composite(base, overlay)
    return out if image.mode == "RGBA" else out.convert(image.mode if image.mode != "P"
                                                        else "RGB")
