"""Channel copies: a picture re-encoded to fit a channel's limits is signed again.

Re-encoding drops the C2PA manifest of the stored original; the copy is signed as an
edit of it (bot/app/services.py wires `Stamp.sign_copy`), within the channel's byte limit.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# (original bytes, copy bytes) -> the copy with its own C2PA manifest.
SignCopy = Callable[[bytes, bytes], Awaitable[bytes]]


async def signed_within(sign_copy: SignCopy, original: bytes, copy: bytes, limit: int) -> bytes:
    """The copy with its Content Credentials, if they fit under the limit; else the copy
    as it is (its watermark, in the pixels, still links it back), and the operator hears."""
    signed = await sign_copy(original, copy)
    if len(signed) <= limit:
        return signed
    log.warning("a %d-byte limit leaves no room for Content Credentials; the copy carries "
                "the watermark only", limit)
    return copy
