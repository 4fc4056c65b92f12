"""How long work takes, learned from the work itself.

Each finished batch teaches the model its seconds per image-step for that batch key (size,
steps, guidance, edit or not): an exponential moving average, so the estimate follows the
machine as it warms up, as other load comes and goes, or after a driver update. A key not
seen yet borrows the average of the keys that were, scaled by pixel count.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Protocol

from imaging.engine import ImageRequest

# Weight of the newest batch: a few batches are enough to follow a change, one odd batch
# (a GC pause, a cold cache) moves the estimate by a third at most.
ALPHA = 0.3
# Before anything ran (and before a warm-up timed the engine, see `seed`): a pessimistic
# CPU figure for the built-in demo model, 0.05 s per image-step. Per *output* pixel, as
# every rate here is: the demo draws 64 px and shows 256 px, so dividing by 64 × 64 made
# a first 256 px picture look 16 times slower than it is ("about 13 s" for 0.5 s).
PRIOR_S_PER_PIXEL_STEP = 0.05 / (256 * 256)


class Throughput:
    def __init__(self, alpha: float = ALPHA) -> None:
        self.alpha = alpha
        self._rate: dict[Hashable, float] = {}  # seconds per image-step, per batch key
        self._per_pixel: float | None = None  # seconds per pixel-step, over all keys
        self.per_image: float | None = None  # wall seconds per image, for /models
        self._seed_key: Hashable | None = None  # set while only the warm-up was timed

    def observe(self, reqs: list[ImageRequest], seconds: float) -> None:
        if not reqs or seconds <= 0:
            return
        if self._seed_key is not None:
            # The first real batch replaces the warm-up's figure rather than averaging
            # with it: a warm-up also pays for the engine's first-call initialisation.
            self._rate.pop(self._seed_key, None)
            self._per_pixel = self._seed_key = None
        images = sum(r.n for r in reqs)
        per_image = seconds / images
        self.per_image = per_image if self.per_image is None else \
            self.per_image + self.alpha * (per_image - self.per_image)
        steps = max(1, reqs[0].steps)
        rate = seconds / (images * steps)
        key = reqs[0].batch_key()
        old = self._rate.get(key)
        self._rate[key] = rate if old is None else old + self.alpha * (rate - old)
        per_pixel = rate / _pixels(reqs[0])
        self._per_pixel = per_pixel if self._per_pixel is None else \
            self._per_pixel + self.alpha * (per_pixel - self._per_pixel)

    def seed(self, req: ImageRequest, seconds: float) -> None:
        """A first estimate from the engine's warm-up at start-up (one request, timed),
        for as long as no real batch has run: it sets the rates, not the seconds per
        image /models shows, since a one-step warm-up is no picture."""
        if seconds <= 0 or self._per_pixel is not None:
            return
        rate = seconds / (max(1, req.n) * max(1, req.steps))
        self._seed_key = req.batch_key()
        self._rate[self._seed_key] = rate
        self._per_pixel = rate / _pixels(req)

    def seconds_per_image_step(self, req: ImageRequest) -> float:
        rate = self._rate.get(req.batch_key())
        if rate is not None:
            return rate
        per_pixel = self._per_pixel if self._per_pixel is not None else PRIOR_S_PER_PIXEL_STEP
        return per_pixel * _pixels(req)

    def seconds(self, req: ImageRequest) -> float:
        """Estimated engine time for this request alone."""
        return self.seconds_per_image_step(req) * req.n * max(1, req.steps)


def _pixels(req: ImageRequest) -> int:
    return max(1, req.width * req.height)


class _Running(Protocol):
    started: float
    expected_s: float


class _Waiting(Protocol):
    @property
    def job(self) -> _Job: ...


class _Job(Protocol):
    id: str
    request: ImageRequest


def positions(plan: Sequence[Sequence[_Waiting]], running: Sequence[_Running],
              throughput: Throughput, lanes: int, now: float) -> dict[str, tuple[int, float]]:
    """Each waiting job's place in line and ETA, given the batches in the order they will
    run. With several workers (`lanes`) the work ahead drains that many times as fast."""
    lanes = max(1, lanes)
    ahead_s = sum(max(0.0, r.expected_s - (now - r.started)) for r in running) / lanes
    out: dict[str, tuple[int, float]] = {}
    ahead_jobs = 0
    for batch in plan:
        ahead_s += sum(throughput.seconds(e.job.request) for e in batch) / lanes
        for e in batch:
            out[e.job.id] = (ahead_jobs + 1, ahead_s)
        ahead_jobs += len(batch)
    return out
