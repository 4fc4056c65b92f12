"""The Teams app package: manifest (appmanifest/manifest.json) + icons, as a zip.

The manifest in the repository carries placeholders that are valid values (so it
validates as it is): the all-zero GUID for the app and bot ids, and easel.example.com for
the domain. `easel manifest build` fills in the real ones.
"""

from __future__ import annotations

import copy
import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from PIL import Image, ImageDraw

from bot.errors import EaselError

PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"
PLACEHOLDER_DOMAIN = "easel.example.com"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
MANIFEST_DIR = Path(__file__).resolve().parents[2] / "appmanifest"


class ManifestError(EaselError, ValueError):
    """Bad input for the package; the message says what to fix."""


def load_template(folder: Path = MANIFEST_DIR) -> dict[str, Any]:
    path = folder / "manifest.json"
    if not path.is_file():
        raise ManifestError(f"no manifest template at {path}")
    return json.loads(path.read_text())


def fill(template: dict[str, Any], app_id: str, public_url: str | None) -> dict[str, Any]:
    if not _GUID.match(app_id or ""):
        raise ManifestError(f"--app-id must be a GUID like 5f1e7d0c-1111-4222-8333-944455556666 "
                            f"(the bot's Microsoft App ID), not {app_id!r}")
    if app_id == PLACEHOLDER_ID:
        raise ManifestError("--app-id is the all-zero placeholder; use your bot's real app id")
    manifest = copy.deepcopy(template)
    manifest["id"] = app_id
    for bot in manifest.get("bots", []):
        bot["botId"] = app_id
    for ext in manifest.get("composeExtensions", []):
        ext["botId"] = app_id
    if public_url:
        parsed = urlparse(public_url)
        if parsed.scheme != "https" or not parsed.hostname:
            raise ManifestError(f"--public-url must be an https URL such as "
                                f"https://easel.example.com, not {public_url!r}")
        domain = parsed.hostname + (f":{parsed.port}" if parsed.port else "")
        manifest["validDomains"] = [domain]
        dev = manifest.get("developer", {})
        base = f"https://{domain}"
        for field, path in (("websiteUrl", ""), ("privacyUrl", "/privacy"),
                            ("termsOfUseUrl", "/terms")):
            if PLACEHOLDER_DOMAIN in dev.get(field, ""):
                dev[field] = base + path
    return manifest


def build_package(app_id: str, public_url: str | None, out: Path,
                  folder: Path = MANIFEST_DIR) -> Path:
    manifest = fill(load_template(folder), app_id, public_url)
    icons = manifest["icons"]
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=2))
        for name in (icons["color"], icons["outline"]):
            zf.write(folder / name, arcname=name)
    return out


# ---- icons, drawn in code (no third-party art) -------------------------------------------
def draw_color_icon(size: int = 192) -> Image.Image:
    """An easel holding a canvas with a sun and hills, on the accent colour."""
    s = size / 192
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([0, 0, size - 1, size - 1], radius=int(36 * s), fill=(91, 75, 219, 255))
    wood = (255, 214, 153, 255)
    d.line([(96 * s, 40 * s), (56 * s, 168 * s)], fill=wood, width=int(9 * s))   # legs
    d.line([(96 * s, 40 * s), (136 * s, 168 * s)], fill=wood, width=int(9 * s))
    d.line([(96 * s, 40 * s), (96 * s, 170 * s)], fill=wood, width=int(7 * s))
    d.rectangle([46 * s, 52 * s, 146 * s, 126 * s], fill=(255, 255, 255, 255))  # canvas
    d.ellipse([112 * s, 60 * s, 134 * s, 82 * s], fill=(255, 190, 60, 255))     # sun
    d.polygon([(50 * s, 122 * s), (84 * s, 80 * s), (112 * s, 122 * s)], fill=(72, 180, 120, 255))
    d.polygon([(88 * s, 122 * s), (116 * s, 92 * s), (142 * s, 122 * s)], fill=(40, 140, 100, 255))
    d.rectangle([40 * s, 126 * s, 152 * s, 134 * s], fill=wood)                 # ledge
    return img


def draw_outline_icon(size: int = 32) -> Image.Image:
    """The same easel as a white outline on transparent (Teams tints it)."""
    big = 4 * size  # draw large, then downsample for clean anti-aliased lines
    s = big / 32
    img = Image.new("RGBA", (big, big), (255, 255, 255, 0))
    d = ImageDraw.Draw(img)
    white = (255, 255, 255, 255)
    w = int(2 * s)
    d.line([(16 * s, 3 * s), (8 * s, 30 * s)], fill=white, width=w)
    d.line([(16 * s, 3 * s), (24 * s, 30 * s)], fill=white, width=w)
    d.rectangle([5 * s, 6 * s, 27 * s, 21 * s], outline=white, width=w)
    d.line([(9 * s, 18 * s), (14 * s, 12 * s), (18 * s, 18 * s)], fill=white, width=w)
    d.ellipse([20 * s, 9 * s, 24 * s, 13 * s], fill=white)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def write_icons(folder: Path = MANIFEST_DIR) -> None:
    buf = io.BytesIO()
    draw_color_icon().save(buf, format="PNG")
    (folder / "color.png").write_bytes(buf.getvalue())
    draw_outline_icon().save(folder / "outline.png", format="PNG")
