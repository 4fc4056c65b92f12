"""An API key's record and what every key store shares: names, hashing, errors.

bot/state/keys.py is the module to import: it has the `KeyStore` protocol and both stores.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from bot.errors import EaselError

KEY_PREFIX = "easel-"
TOUCH_EVERY_S = 10.0  # how often a key's last use is written, at most
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class KeyStoreError(EaselError):
    """Root of the key store's errors; the message is for the operator."""


class BadKeyName(KeyStoreError, ValueError):
    pass


class KeyNameTaken(KeyStoreError):
    pass


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    created: float
    last_used: float | None
    images_per_minute: int | None
    images_per_day: int | None

    @property
    def user_id(self) -> str:
        return f"key:{self.name}"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def check_key_args(name: str, per_minute: int | None, per_day: int | None) -> None:
    if not _NAME.match(name):
        raise BadKeyName("a key name is 1-64 letters, digits, '.', '_' or '-', starting with "
                         "a letter or digit")
    for what, value in (("images per minute", per_minute), ("images per day", per_day)):
        if value is not None and value < 1:
            raise KeyStoreError(f"{what} must be at least 1")


def record(name: str, data: dict[str, Any], last_used: float | None) -> ApiKey:
    return ApiKey(name, float(data["created"]), last_used, data.get("images_per_minute"),
                  data.get("images_per_day"))


def looks_like_key(key: str) -> bool:
    return key.startswith(KEY_PREFIX) and 20 <= len(key) <= 200
