"""Keeping a finished picture through a storage outage: retried with backoff, within a bound.

A picture that took seconds of GPU time is not thrown away because Redis restarted: its
bytes wait in memory and the write is tried again, with exponential backoff and jitter
(so the waiting pictures of many users do not hit a recovering Redis all at once), until
it succeeds or the bound runs out. Then `StorageGaveUp` says so, once, in words the user
can read; the caller turns it into the turn's one reply. The waits are `asyncio.sleep`:
the event loop keeps serving everyone else meanwhile.

The default bound, 60 s, outlasts a Redis restart or a Sentinel failover (about 30 s
with Sentinel's defaults) and is short enough that nobody looks at "working on it" for
minutes; the operator sets it with EASEL_STORE_RETRY_S.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from imaging.store import StoreUnavailable
from tools.base import ToolError

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_BOUND_S = 60.0


class StorageGaveUp(ToolError):
    """The picture was made but could not be stored within the bound."""


@dataclass(frozen=True, slots=True)
class KeepTrying:
    bound_s: float = DEFAULT_BOUND_S  # from the first failure to giving up
    first_s: float = 0.5  # the first wait; each next one doubles...
    max_s: float = 8.0  # ...up to this

    async def run(self, attempt: Callable[[], Awaitable[T]], what: str) -> T:
        """`attempt()` until it stops raising `StoreUnavailable`; `StorageGaveUp` once the
        bound is spent (an attempt already under way when it runs out is not cut)."""
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        delay = self.first_s
        tries = 0
        while True:
            try:
                result = await attempt()
            except StoreUnavailable as exc:
                tries += 1
                now = loop.time()
                deadline = deadline if deadline is not None else now + self.bound_s
                if now >= deadline:
                    log.error("gave up storing %s after %d tries: %s", what, tries, exc)
                    raise StorageGaveUp(
                        f"your picture was made, but it could not be stored: my storage has "
                        f"been unavailable for over {_seconds(self.bound_s)}. Please ask "
                        "again in a few minutes") from exc
                wait = min(delay * random.uniform(0.8, 1.2), deadline - now)
                log.warning("storage unavailable while storing %s (%s); retrying in %.1f s",
                            what, exc, wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, self.max_s)
                continue
            if tries:
                log.info("stored %s after %d failed tries", what, tries)
            return result


def _seconds(value: float) -> str:
    return f"{value:g} s" if value < 120 else f"{value / 60:g} min"
