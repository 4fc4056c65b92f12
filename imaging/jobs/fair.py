"""The fair queue: per-user lines served round-robin, compatible jobs batched together.

When the engine frees up it takes the first user's oldest job plus the oldest job of each
following user that shares its batch key, up to the batch's image limit; every user who
contributed goes to the back of the rotation. One user asking for many images therefore
never starves the others. `plan` runs the same rule on a copy, which is how positions
and ETAs are computed: the order they promise is the order the worker will follow.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

from imaging.engine import ImageRequest


class Queued(Protocol):
    @property
    def user(self) -> str: ...

    @property
    def request(self) -> ImageRequest: ...


T = TypeVar("T", bound=Queued)


class FairQueue(Generic[T]):
    def __init__(self, max_batch_images: int, max_batch_jobs: int | None = None) -> None:
        """`max_batch_jobs`: 1 for engines that serve one request per call (remote APIs)."""
        self.max_batch_images = max_batch_images
        self.max_batch_jobs = max_batch_jobs
        self._lines: OrderedDict[str, deque[T]] = OrderedDict()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[T]:
        for line in self._lines.values():
            yield from line

    def push(self, item: T) -> None:
        self._lines.setdefault(item.user, deque()).append(item)
        self._size += 1

    def push_front(self, item: T) -> None:
        """Give a taken item back its place: first in its user's line, its user first."""
        self._lines.setdefault(item.user, deque()).appendleft(item)
        self._lines.move_to_end(item.user, last=False)
        self._size += 1

    def remove(self, item: T) -> bool:
        line = self._lines.get(item.user)
        if not line or item not in line:
            return False
        line.remove(item)
        self._size -= 1
        if not line:
            del self._lines[item.user]
        return True

    def take_batch(self, room: int | None = None) -> list[T]:
        """The next fair batch; `room`: at most that many images (nothing, when the next
        job alone is larger: it keeps its place and waits for room)."""
        limit = self.max_batch_images if room is None else min(room, self.max_batch_images)
        if room is not None and self._lines:
            first = next(iter(self._lines.values()))[0]
            if first.request.n > limit:
                return []
        batch = _take(self._lines, limit, self.max_batch_jobs)
        self._size -= len(batch)
        return batch

    def next_batch_images(self) -> int:
        """Images in the batch `take_batch()` would take now, nothing taken. A batch takes
        only the head of each user's line, so copying the heads is enough."""
        heads = OrderedDict((u, deque([q[0]])) for u, q in self._lines.items())
        return sum(item.request.n for item in _take(heads, self.max_batch_images,
                                                     self.max_batch_jobs))

    def plan(self) -> list[list[T]]:
        """The batches the worker would run, in order, if nothing else arrived."""
        lines = OrderedDict((u, deque(q)) for u, q in self._lines.items())
        batches = []
        while lines:
            batches.append(_take(lines, self.max_batch_images, self.max_batch_jobs))
        return batches


def _take(lines: OrderedDict[str, deque[T]], max_images: int, max_jobs: int | None
          ) -> list[T]:
    if not lines:
        return []
    user, line = next(iter(lines.items()))
    first = line.popleft()
    lines.move_to_end(user)  # this user goes to the back of the line
    if not line:
        del lines[user]
    batch, images = [first], first.request.n
    key = first.request.batch_key()
    for other in list(lines):
        if max_jobs is not None and len(batch) >= max_jobs:
            break
        if other == user:
            continue
        oq = lines[other]
        cand = oq[0]
        if cand.request.batch_key() != key or images + cand.request.n > max_images:
            continue
        oq.popleft()
        lines.move_to_end(other)
        if not oq:
            del lines[other]
        batch.append(cand)
        images += cand.request.n
    return batch
