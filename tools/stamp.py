"""Provenance on every delivered image: the watermark, then a signed C2PA manifest.

The image tools store what this returns, so the stored bytes (served at /images/{id},
sent to channels, written by the CLI) carry both marks. The generation key in the
watermark is derived from the image id, so `/verify` can find the picture again among
the asking user's own records, and nothing extra has to be kept.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from imaging.provenance import GenerationInfo, Provenance
from imaging.store import ImageStore, StoredImage, new_image_id

# Who drew a picture, for the manifest's softwareAgent: (engine, model) for a named
# engine (None: the deployment's only one).
Identity = Callable[[str | None], tuple[str, str]]


class Stamp:
    def __init__(self, provenance: Provenance, store: ImageStore, identity: Identity) -> None:
        self.provenance = provenance
        self.store = store
        self.identity = identity

    async def save(self, image: Image.Image, *, engine: str | None, prompt: str, user_id: str,
                   parent: bytes | None = None) -> StoredImage:
        """Mark, sign and store one image. `parent`: the picture it was edited from (or
        the user's upload), which the manifest names as its ingredient. The prompt and
        user id reach the manifest only with EASEL_C2PA_INCLUDE_PROMPT=on."""
        image_id = new_image_id()
        data = await self.mark(image, image_id, engine=engine, prompt=prompt, user_id=user_id,
                               parent=parent)
        return await self.store.save_encoded(data, image.width, image.height, image_id)

    async def mark(self, image: Image.Image, image_id: str, *, engine: str | None, prompt: str,
                   user_id: str, parent: bytes | None = None, action: str | None = None
                   ) -> bytes:
        """The marked and signed PNG of the picture to be stored as `image_id` (its
        watermark's key comes from the id), for a caller that stores it itself. `action`:
        the manifest's action for a picture with a parent, when it is not `c2pa.edited`."""
        name, model = self.identity(engine)
        info = GenerationInfo(engine=name, model=model,
                              generation_key=self.provenance.generation_key(image_id),
                              prompt=prompt, user_id=user_id, action=action)
        return await self.provenance.amark_and_sign(image, info, parent)

    async def sign_copy(self, original: bytes, copy: bytes) -> bytes:
        """A channel's re-encoded copy (smaller, or JPEG to fit a size limit): signed as an
        edit by easel of the original, which is its ingredient; the watermark, being in
        the pixels, is already there."""
        info = GenerationInfo(engine="easel", model="fitted copy", generation_key=0)
        return await self.provenance.asign(copy, info, original)
