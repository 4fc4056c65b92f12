"""Image store: files under the data dir with unguessable ids.

Ids come from `secrets.token_urlsafe`, so knowing one image's URL tells nothing about
another's; `/images/{id}` is the only way in and the id is validated before it touches
the file system.
"""

from __future__ import annotations

import asyncio
import io
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22,64}$")


@dataclass(frozen=True, slots=True)
class StoredImage:
    image_id: str
    path: Path
    width: int
    height: int


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def valid_id(image_id: str) -> bool:
        return bool(_ID_RE.match(image_id))

    def path_for(self, image_id: str) -> Path | None:
        if not self.valid_id(image_id):
            return None
        # Two-level fan-out keeps directories small on long-running servers.
        return self.root / image_id[:2] / f"{image_id}.png"

    def save_sync(self, image: Image.Image) -> StoredImage:
        image_id = secrets.token_urlsafe(24)
        path = self.path_for(image_id)
        assert path is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        image.save(tmp, format="PNG")
        tmp.replace(path)  # atomic: a reader never sees a half-written file
        return StoredImage(image_id, path, image.width, image.height)

    async def save(self, image: Image.Image) -> StoredImage:
        # PNG encoding of a 1024 px image takes tens of ms: keep it off the event loop.
        return await asyncio.to_thread(self.save_sync, image)

    def read_sync(self, image_id: str) -> bytes | None:
        path = self.path_for(image_id)
        if path is None or not path.is_file():
            return None
        return path.read_bytes()

    async def read(self, image_id: str) -> bytes | None:
        return await asyncio.to_thread(self.read_sync, image_id)

    async def open(self, image_id: str) -> Image.Image | None:
        data = await self.read(image_id)
        if data is None:
            return None
        img = Image.open(io.BytesIO(data))
        img.load()
        return img
