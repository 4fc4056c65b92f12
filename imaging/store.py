"""Image stores: PNG files under the data dir, or PNG bytes in Redis; unguessable ids.

Ids come from `secrets.token_urlsafe`, so knowing one image's URL tells nothing about
another's; `/images/{id}` is the only way in and the id is validated before it touches
the file system or Redis. Both stores implement `ImageStore`; everything else is typed
by the protocol, never by a concrete store.

A channel's fitted copy of a picture is saved with `copy_of` naming the original, and
deleting the original deletes its copies: whoever can find a picture (a user's /forget,
the history's trimming) finds its copies too. A store whose backing service cannot be
reached raises `StoreUnavailable`, never that service's own errors.
"""

from __future__ import annotations

import asyncio
import io
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import redis.exceptions as rx
from PIL import Image

if TYPE_CHECKING:
    from redis.asyncio import Redis

_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22,64}$")


class StoreUnavailable(Exception):
    """The service behind a store (Redis) cannot be reached right now: worth retrying."""


# What a Redis that is down, restarting or unreachable raises through redis-py.
_REDIS_DOWN = (rx.ConnectionError, rx.TimeoutError, OSError)


@dataclass(frozen=True, slots=True)
class StoredImage:
    image_id: str
    path: Path | None  # None when the image lives in Redis
    width: int
    height: int


class ImageStore(Protocol):
    """Where delivered images and uploads live. Every method is safe on the event loop."""

    def valid_id(self, image_id: str) -> bool: ...

    def path_for(self, image_id: str) -> Path | None:
        """The image's file, for stores that keep files (None otherwise)."""
        ...

    async def save(self, image: Image.Image, image_id: str | None = None) -> StoredImage: ...

    async def save_encoded(self, data: bytes, width: int, height: int,
                           image_id: str | None = None, copy_of: str | None = None
                           ) -> StoredImage:
        """Keep encoded bytes as they are (a signed PNG: re-encoding would drop its C2PA
        manifest); `image_id`: one made beforehand with `new_image_id`; `copy_of`: the
        picture this is a channel's copy of (deleted with it)."""
        ...

    async def read(self, image_id: str) -> bytes | None:
        """The stored PNG bytes, or None for an unknown or invalid id."""
        ...

    async def open(self, image_id: str) -> Image.Image | None: ...

    async def delete(self, image_ids: list[str]) -> int:
        """Delete these images and their copies; returns how many of these existed."""
        ...

    async def purge_expired(self) -> int:
        """Delete images older than the store's TTL; returns how many went."""
        ...


def valid_image_id(image_id: str) -> bool:
    return bool(_ID_RE.match(image_id))


def new_image_id() -> str:
    return secrets.token_urlsafe(24)


async def decode_stored(data: bytes | None) -> Image.Image | None:
    """Decode stored bytes off the event loop (a large PNG takes tens of ms)."""
    if data is None:
        return None

    def decode() -> Image.Image:
        img = Image.open(io.BytesIO(data))
        img.load()
        return img

    return await asyncio.to_thread(decode)


# zlib level 1 instead of Pillow's default 6: 1.8-3.4x faster to encode (a photo-like
# 1024 px picture: 116 ms instead of 396 ms, and no bigger; a smooth demo picture: 38 ms
# instead of 68 ms, at 1.4-1.8x the bytes, still far under any channel's limit).
PNG_LEVEL = 1


def encode_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=PNG_LEVEL)
    return buf.getvalue()


class FileImageStore:
    """PNG files under `root`, optionally expiring after `ttl_s` (see `purge_expired`)."""

    def __init__(self, root: Path, ttl_s: int | None = None) -> None:
        self.root = root
        self.ttl_s = ttl_s
        self.root.mkdir(parents=True, exist_ok=True)

    valid_id = staticmethod(valid_image_id)

    def path_for(self, image_id: str) -> Path | None:
        if not self.valid_id(image_id):
            return None
        # Two-level fan-out keeps directories small on long-running servers.
        return self.root / image_id[:2] / f"{image_id}.png"

    def save_sync(self, image: Image.Image, image_id: str | None = None) -> StoredImage:
        image_id = image_id or new_image_id()
        path = self.path_for(image_id)
        if path is None:
            raise ValueError("not a valid image id")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        image.save(tmp, format="PNG", compress_level=PNG_LEVEL)
        tmp.replace(path)  # atomic: a reader never sees a half-written file
        return StoredImage(image_id, path, image.width, image.height)

    async def save(self, image: Image.Image, image_id: str | None = None) -> StoredImage:
        # PNG encoding of a 1024 px image takes tens of ms: keep it off the event loop.
        return await asyncio.to_thread(self.save_sync, image, image_id)

    def save_encoded_sync(self, data: bytes, width: int, height: int,
                          image_id: str | None = None, copy_of: str | None = None
                          ) -> StoredImage:
        image_id = image_id or new_image_id()
        path = self.path_for(image_id)
        original = self.path_for(copy_of) if copy_of is not None else None
        if path is None or (copy_of is not None and original is None):
            raise ValueError("not a valid image id")
        path.parent.mkdir(parents=True, exist_ok=True)
        if original is not None:
            # Noted before the copy exists: a deletion of the original never misses it.
            original.parent.mkdir(parents=True, exist_ok=True)
            with original.with_suffix(".copies").open("a", encoding="ascii") as f:
                f.write(image_id + "\n")
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return StoredImage(image_id, path, width, height)

    async def save_encoded(self, data: bytes, width: int, height: int,
                           image_id: str | None = None, copy_of: str | None = None
                           ) -> StoredImage:
        return await asyncio.to_thread(self.save_encoded_sync, data, width, height, image_id,
                                       copy_of)

    def read_sync(self, image_id: str) -> bytes | None:
        path = self.path_for(image_id)
        if path is None or not path.is_file():
            return None
        return path.read_bytes()

    async def read(self, image_id: str) -> bytes | None:
        return await asyncio.to_thread(self.read_sync, image_id)

    async def open(self, image_id: str) -> Image.Image | None:
        return await decode_stored(await self.read(image_id))

    async def delete(self, image_ids: list[str]) -> int:
        return await asyncio.to_thread(self.delete_sync, image_ids)

    def delete_sync(self, image_ids: list[str]) -> int:
        gone = 0
        for image_id in image_ids:
            path = self.path_for(image_id)
            if path is None:
                continue
            copies = path.with_suffix(".copies")
            if copies.is_file():
                self.delete_sync(copies.read_text(encoding="ascii").split())
                copies.unlink(missing_ok=True)
            if path.is_file():
                path.unlink(missing_ok=True)
                gone += 1
        return gone

    async def purge_expired(self) -> int:
        return await asyncio.to_thread(self.purge_expired_sync)

    def purge_expired_sync(self, now: float | None = None) -> int:
        """Delete images older than the TTL; returns how many went."""
        if not self.ttl_s:
            return 0
        cutoff = (now or time.time()) - self.ttl_s
        gone = 0
        for path in [*self.root.glob("*/*.png"), *self.root.glob("*/*.copies")]:
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    gone += 1
            except FileNotFoundError:
                pass
        return gone


class RedisImageStore:
    """Images as PNG bytes in Redis with a TTL, for deployments without shared disk."""

    def __init__(self, client: Redis, *, prefix: str = "easel:", ttl_s: int | None = None
                 ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s

    valid_id = staticmethod(valid_image_id)

    def _k(self, image_id: str) -> str:
        return f"{self.prefix}img:{image_id}"

    def path_for(self, image_id: str) -> Path | None:
        return None

    def _copies(self, image_id: str) -> str:
        return f"{self.prefix}imgcopies:{image_id}"

    async def save(self, image: Image.Image, image_id: str | None = None) -> StoredImage:
        data = await asyncio.to_thread(encode_png, image)
        return await self.save_encoded(data, image.width, image.height, image_id)

    async def save_encoded(self, data: bytes, width: int, height: int,
                           image_id: str | None = None, copy_of: str | None = None
                           ) -> StoredImage:
        image_id = image_id or new_image_id()
        if not self.valid_id(image_id) or (copy_of is not None and not self.valid_id(copy_of)):
            raise ValueError("not a valid image id")
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                if copy_of is not None:  # the original's set of copies, as long-lived as it
                    pipe.sadd(self._copies(copy_of), image_id)
                    if self.ttl_s:
                        pipe.expire(self._copies(copy_of), self.ttl_s)
                pipe.set(self._k(image_id), data, ex=self.ttl_s or None)
                await pipe.execute()
        except _REDIS_DOWN as exc:
            raise StoreUnavailable(f"image store: {exc}") from exc
        return StoredImage(image_id, None, width, height)

    async def read(self, image_id: str) -> bytes | None:
        if not self.valid_id(image_id):
            return None
        try:
            data = await self.client.get(self._k(image_id))
        except _REDIS_DOWN as exc:
            raise StoreUnavailable(f"image store: {exc}") from exc
        if isinstance(data, str):  # a client made with decode_responses=True
            return data.encode("latin-1")
        return bytes(data) if data is not None else None

    async def open(self, image_id: str) -> Image.Image | None:
        return await decode_stored(await self.read(image_id))

    async def delete(self, image_ids: list[str]) -> int:
        ids = [i for i in image_ids if self.valid_id(i)]
        if not ids:
            return 0
        try:
            async with self.client.pipeline(transaction=False) as pipe:  # one round trip
                for i in ids:
                    pipe.smembers(self._copies(i))
                copies = await pipe.execute()
            extra = [self._k(c.decode() if isinstance(c, bytes) else c)
                     for found in copies for c in found]
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.delete(*[self._k(i) for i in ids])
                pipe.delete(*extra, *[self._copies(i) for i in ids])
                gone, _ = await pipe.execute()
        except _REDIS_DOWN as exc:
            raise StoreUnavailable(f"image store: {exc}") from exc
        return int(gone)

    async def purge_expired(self) -> int:
        return 0  # Redis expires keys itself
