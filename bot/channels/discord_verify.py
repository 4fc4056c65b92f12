"""Ed25519 request verification for Discord interactions.

Discord signs timestamp + raw body with the application's key and sends the signature in
`X-Signature-Ed25519`; a request is trusted only when that verifies against
DISCORD_PUBLIC_KEY and the timestamp is recent, so a captured request cannot be replayed
later. Discord itself probes the endpoint with bad signatures and expects 401.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bot.errors import ConfigError


def parse_public_key(value: str) -> Ed25519PublicKey:
    """DISCORD_PUBLIC_KEY as the developer portal shows it: 64 hex characters."""
    try:
        raw = bytes.fromhex(value.strip())
        if len(raw) != 32:
            raise ValueError
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise ConfigError("DISCORD_PUBLIC_KEY must be the 64 hex characters shown as "
                          "'Public Key' in the Discord developer portal") from None


class SignatureVerifier:
    def __init__(self, key: Ed25519PublicKey, *, max_skew_s: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.max_skew_s = max_skew_s
        self.clock = clock

    def problem(self, signature: str | None, timestamp: str | None, body: bytes) -> str | None:
        """None when the request is Discord's and fresh; otherwise why it is not."""
        if not signature or not timestamp:
            return "missing signature headers"
        try:
            self.key.verify(bytes.fromhex(signature), timestamp.encode() + body)
        except (ValueError, InvalidSignature):
            return "bad signature"
        try:
            age = self.clock() - int(timestamp)
        except ValueError:
            return "bad timestamp"
        if abs(age) > self.max_skew_s:  # a replayed (or badly clocked) request
            return f"timestamp {age:.0f} s off"
        return None
