"""Audit log of safety blocks: JSON lines on disk, or a Redis stream.

Records carry a salted SHA-256 of the user id (never the id itself), the checkpoint, the
category, the scores, the reason (matched rule or model score, never the user's full text)
and a UTC timestamp.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from redis.typing import EncodableT, FieldT

from safety.policy import Verdict

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

Checkpoint = Literal["input", "prompt", "output"]


def hash_user_id(user_id: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    user: str  # salted sha256 of the user id
    checkpoint: Checkpoint
    category: str | None
    scores: dict[str, float]
    reason: str
    error: bool = False
    timestamp: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


class AuditSink(Protocol):
    async def write(self, record: AuditRecord) -> None: ...


class AuditLog:
    """Hashes user ids and hands records to a sink; a sink failure is logged, not raised
    (the block itself has already happened — losing an audit line must not un-block)."""

    def __init__(self, sink: AuditSink, salt: str) -> None:
        self.sink = sink
        self.salt = salt

    async def record(self, *, user_id: str, checkpoint: Checkpoint, verdict: Verdict) -> AuditRecord:
        record = AuditRecord(
            user=hash_user_id(user_id, self.salt),
            checkpoint=checkpoint,
            category=verdict.category.value if verdict.category else None,
            scores={k: round(float(v), 4) for k, v in verdict.scores.items()},
            reason=verdict.reason,
            error=verdict.error,
        )
        try:
            await self.sink.write(record)
        except Exception:  # noqa: BLE001 - see class docstring
            log.exception("could not write safety audit record")
        return record


class JsonlAuditSink:
    """Appends one JSON object per line; file I/O runs in a worker thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    def _append(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")

    async def write(self, record: AuditRecord) -> None:
        async with self._lock:  # keep lines whole when blocks arrive together
            await asyncio.to_thread(self._append, record.to_json())


class RedisStreamAuditSink:
    """XADDs each record to a capped Redis stream (takes a `redis.asyncio.Redis`)."""

    def __init__(self, client: Redis, stream: str = "easel:safety:audit", maxlen: int = 100_000) -> None:
        self.client = client
        self.stream = stream
        self.maxlen = maxlen

    async def write(self, record: AuditRecord) -> None:
        fields: dict[FieldT, EncodableT] = {
            k: json.dumps(v) if isinstance(v, dict) else str(v) for k, v in asdict(record).items()}
        await self.client.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)


class MemoryAuditSink:
    """Keeps records in a list: for `easel chat` sessions and tests."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    async def write(self, record: AuditRecord) -> None:
        self.records.append(record)
