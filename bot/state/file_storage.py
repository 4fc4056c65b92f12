"""A botbuilder `Storage` in files, with the e-tag conventions of bot/state/storage.py.

For what several processes on one host must share without Redis: the index of what each
API key has stored (bot/state/owned.py), which `easel keys revoke --forget` reads from
the CLI while the server writes it. One JSON file per item, replaced atomically (a
reader never sees half a file); writes and deletes hold an exclusive lock on the folder's
lock file, so an e-tag check and its write are one step across processes. Every call
runs in a thread.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botbuilder.core import Storage

# The e-tag rules and item conversion of the other two storages, shared.
from bot.state.storage import _as_dict, _check_etag


class FileStorage(Storage):
    def __init__(self, root: Path, ttl_s: int | None = None) -> None:
        self.root = Path(root)
        self.ttl_s = ttl_s

    async def read(self, keys: list[str]) -> dict[str, Any]:
        return await asyncio.to_thread(self._read_many, keys)

    async def write(self, changes: dict[str, Any]) -> None:
        await asyncio.to_thread(self._write, changes)

    async def delete(self, keys: list[str]) -> None:
        await asyncio.to_thread(self._delete, keys)

    # ---- in a thread -------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.root / digest[:2] / f"{digest}.json"

    def _load(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        try:
            item = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        if item.get("key") != key:
            return None
        expires = item.get("expires")
        if expires is not None and expires < time.time():
            path.unlink(missing_ok=True)
            return None
        value: dict[str, Any] = item["value"]
        value["e_tag"] = item["e_tag"]
        return value

    def _read_many(self, keys: list[str]) -> dict[str, Any]:
        found = {key: self._load(key) for key in keys}
        return {key: value for key, value in found.items() if value is not None}

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(held, fcntl.LOCK_UN)

    def _write(self, changes: dict[str, Any]) -> None:
        with self._locked():
            # Every e-tag first: a batch is written entirely or not at all.
            for key, item in changes.items():
                _check_etag(key, _as_dict(item).get("e_tag"), self._load(key))
            expires = time.time() + self.ttl_s if self.ttl_s else None
            for key, item in changes.items():
                value = _as_dict(item)
                value.pop("e_tag", None)
                path = self._path(key)
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump({"key": key, "e_tag": secrets.token_hex(8), "expires": expires,
                               "value": value}, f, separators=(",", ":"))
                os.replace(tmp, path)

    def _delete(self, keys: list[str]) -> None:
        with self._locked():
            for key in keys:
                self._path(key).unlink(missing_ok=True)

