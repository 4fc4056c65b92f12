"""A job as the runner tracks it, and the batch that is running now."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from imaging.engine import ImageRequest
from imaging.jobs.handle import JobHandle
from imaging.jobs.model import ImageJob, JobState

PREVIEW_SIDE = 128  # px: enough to see the picture form, small enough to send each second
MIN_HALFWAY_JOB_S = 2.0  # a job this long gets at least one preview by half-way


@dataclass(eq=False, slots=True)
class Entry:
    job: ImageJob
    handle: JobHandle
    state: JobState = JobState.QUEUED
    cancel_requested: bool = False  # read by the engine thread at each step
    step: int = 0
    total: int = 0
    sent_position: int | None = None
    sent_at: float = float("-inf")

    @property
    def user(self) -> str:
        return self.job.user

    @property
    def request(self) -> ImageRequest:
        return self.job.request

    def announced(self, position: int, now: float) -> None:
        self.sent_position, self.sent_at = position, now


@dataclass(eq=False, slots=True)
class RunningBatch:
    entries: list[Any]  # each with a `.request` (an `Entry` here, a replica's own slot)
    started: float
    expected_s: float
    last_preview: float | None = None
    preview_s: float = 0.0
    task: asyncio.Future[Any] | None = None  # a remote engine's call, cancelled with its job
    _rows: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rows = [e.request.n for e in self.entries]

    def preview_due(self, step: int, total: int, now: float, interval_s: float) -> bool:
        """About once a second, and by half-way through any job of 2 s or more; never at
        the last step, whose picture is about to arrive in full. The caller records a
        preview it made with `shown`."""
        if step >= total:
            return False
        since = now - (self.last_preview if self.last_preview is not None else self.started)
        due = since >= interval_s
        if not due and self.last_preview is None and 2 * step >= total:
            elapsed = now - self.started
            due = elapsed / max(1, step) * total >= MIN_HALFWAY_JOB_S
        return due

    def shown(self, now: float) -> None:
        self.last_preview = now

    def split(self, previews: list[Image.Image] | None) -> list[Image.Image | None]:
        """One preview per job: its image, or a grid of its images."""
        if not previews or len(previews) != sum(self._rows):
            return [None] * len(self.entries)
        out: list[Image.Image | None] = []
        at = 0
        for n in self._rows:
            out.append(_fit(_grid(previews[at:at + n])))
            at += n
        return out


def _grid(images: list[Image.Image]) -> Image.Image:
    if len(images) == 1:
        return images[0]
    cols = 2
    rows = (len(images) + 1) // 2
    w, h = images[0].size
    sheet = Image.new("RGB", (cols * w, rows * h), (24, 24, 24))
    for i, im in enumerate(images):
        sheet.paste(im, ((i % cols) * w, (i // cols) * h))
    return sheet


def _fit(image: Image.Image) -> Image.Image:
    scale = PREVIEW_SIDE / max(image.size)
    if abs(scale - 1) < 1e-3:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR)
