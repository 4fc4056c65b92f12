"""`Provenance`: the one object the rest of easel holds to mark, sign and verify images.

Order per delivered image: visible badge (optional) -> invisible watermark -> encode ->
C2PA manifest. The watermark goes first because it changes pixels, which the manifest's
hash then covers; it also survives the re-encodes that strip the manifest.

Everything here is blocking (numpy, c2pa's native code): call the `a*` wrappers from the
event loop, which run it in a worker thread. The object is thread-safe: keys are loaded
once under a lock, and nothing else is shared between calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import logging
import threading
from collections.abc import Iterable
from typing import Literal

from PIL import Image

from imaging.provenance import keys as keyring
from imaging.provenance import manifest
from imaging.provenance.badge import add_badge
from imaging.provenance.config import GenerationInfo, ProvenanceConfig
from imaging.provenance.keys import SigningKeys
from imaging.provenance.marker import Watermarker
from imaging.provenance.report import ProvenanceReport, WatermarkReport
from imaging.store import PNG_LEVEL

log = logging.getLogger(__name__)

ImageFormat = Literal["PNG", "JPEG"]


class Provenance:
    def __init__(self, config: ProvenanceConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._signing: SigningKeys | None = None
        self._wm_key: bytes | None = None
        self._marker: Watermarker | None = None

    def prepare(self) -> None:
        """Load (or, the first time, create) the keys now: call at start-up so that a bad
        certificate stops the server instead of failing the first image."""
        self._signing_keys()
        self._watermarker(create=True)

    # -- keys -------------------------------------------------------------------------

    def _signing_keys(self) -> SigningKeys:
        with self._lock:
            if self._signing is None:
                self._signing = keyring.signing_keys(self.config)
            return self._signing

    def _watermarker(self, create: bool) -> Watermarker | None:
        with self._lock:
            if self._marker is None:
                key = keyring.watermark_key(self.config, create=create)
                if key is None:
                    return None
                self._wm_key, self._marker = key, Watermarker(key)
            return self._marker

    @property
    def watermarker(self) -> Watermarker:
        """This deployment's watermark reader/writer (its key made on first use)."""
        marker = self._watermarker(create=True)
        assert marker is not None
        return marker

    def _key(self) -> bytes:
        self._watermarker(create=True)
        assert self._wm_key is not None
        return self._wm_key

    @property
    def deployment_id(self) -> int:
        """The 32-bit id the watermark carries: configured, or derived from its key."""
        if self.config.deployment_id is not None:
            return self.config.deployment_id
        return _derive(self._key(), b"deployment")

    def generation_key(self, ref: str) -> int:
        """The 32-bit key a generation's watermark carries, from any stable reference the
        caller keeps in its generation record (an image id, or job id + index). Keyed by
        the deployment's secret, so it cannot be guessed from the reference."""
        return _derive(self._key(), b"generation\0" + ref.encode("utf-8"))

    def find_generation(self, generation_key: int, refs: Iterable[str]) -> str | None:
        """The one of `refs` (the asking user's own records, never everyone's) whose
        generation key this is, or None."""
        return next((r for r in refs if self.generation_key(r) == generation_key), None)

    # -- marking and signing ----------------------------------------------------------

    def mark(self, image: Image.Image, info: GenerationInfo) -> Image.Image:
        """The badge (when configured) and the invisible watermark, on a copy."""
        if self.config.visible_mark:
            image = add_badge(image)
        return self.watermarker.embed(image, self.deployment_id, info.generation_key)

    def sign(self, data: bytes, info: GenerationInfo, parent: bytes | None = None) -> bytes:
        """Encoded image bytes (PNG, JPEG, WebP) with a signed C2PA manifest: `c2pa.created`,
        or `c2pa.edited` (or `info.action`, e.g. `c2pa.resized`) with `parent` (the image
        it was edited from, or the user's upload) as its ingredient. Use it again on a channel's re-encoded copy, with the same
        arguments: the re-encode drops the manifest but keeps the watermark."""
        definition = manifest.definition(info, edited=parent is not None,
                                         include_prompt=self.config.include_prompt)
        return manifest.sign(data, definition, self._signing_keys(), parent)

    def mark_and_sign(self, image: Image.Image, info: GenerationInfo,
                      parent: bytes | None = None, fmt: ImageFormat = "PNG",
                      quality: int = 90) -> bytes:
        """`mark`, encode as `fmt`, then `sign`: the bytes to store and deliver."""
        marked = self.mark(image, info)
        buf = io.BytesIO()
        if fmt == "JPEG":
            marked.convert("RGB").save(buf, format="JPEG", quality=quality)
        else:
            marked.save(buf, format="PNG", compress_level=PNG_LEVEL)
        return self.sign(buf.getvalue(), info, parent)

    async def amark_and_sign(self, image: Image.Image, info: GenerationInfo,
                             parent: bytes | None = None, fmt: ImageFormat = "PNG",
                             quality: int = 90) -> bytes:
        return await asyncio.to_thread(self.mark_and_sign, image, info, parent, fmt, quality)

    async def asign(self, data: bytes, info: GenerationInfo,
                    parent: bytes | None = None) -> bytes:
        return await asyncio.to_thread(self.sign, data, info, parent)

    # -- verification -----------------------------------------------------------------

    def verify(self, data: bytes) -> ProvenanceReport:
        """What `data` carries: an easel C2PA manifest (valid, trusted, tampered?) and this
        deployment's watermark (with its generation key). Never raises on bad input."""
        mime = manifest.sniff_mime(data)
        notes: list[str] = []
        report = manifest.read(data, keyring.trust_anchors(self.config))
        marker = self._watermarker(create=False)
        mark = WatermarkReport(checked=marker is not None)
        if marker is not None:
            try:
                with Image.open(io.BytesIO(data)) as img:
                    img.draft("RGB", (1024, 1024))  # JPEG: decode at a reduced scale, faster
                    found = marker.detect(img)
            except (OSError, ValueError, Image.DecompressionBombError) as exc:
                notes.append(f"not a readable image: {exc}")
            else:
                if found.found:
                    mark = WatermarkReport(
                        checked=True, present=True, deployment_id=found.deployment_id,
                        generation_key=found.generation_key,
                        this_deployment=found.deployment_id == self.deployment_id,
                        cropped=found.keep != (1.0, 1.0))
        return ProvenanceReport(report, mark, mime, tuple(notes))

    async def averify(self, data: bytes) -> ProvenanceReport:
        return await asyncio.to_thread(self.verify, data)


def _derive(key: bytes, label: bytes) -> int:
    return int.from_bytes(hmac.new(key, b"easel\0" + label, hashlib.sha256).digest()[:4], "big")
