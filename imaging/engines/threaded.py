"""The device thread of local engines: `agenerate` hops into it, so the loop never draws.

Every local engine on one device shares one such thread (the registry hands the same
`DeviceThread` to each), so two pipelines never run on one GPU at once. The thread is
made on first use and again after `close`, so an engine outlives one server's shutdown
(the tests share one loaded engine across many servers).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from imaging.engine import EngineIdentity, ImageRequest, ImageResult, StepCallback


class DeviceThread:
    def __init__(self, device: str) -> None:
        self.device = device
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"easel-engine-{self.device}")
            return self._pool

    def close(self) -> None:
        """Waits for the running batch (it stops at its next step once cancelled)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


class ThreadedEngine:
    """Base of local engines: subclasses write the blocking `generate`, and either hand
    in the device's shared `thread` or get one of their own on first use."""

    identity: EngineIdentity
    max_concurrency = 1  # one batch at a time in the device thread
    warm_up_timing: tuple[ImageRequest, float] | None = None
    _device_thread: DeviceThread | None = None

    @property
    def thread(self) -> DeviceThread:
        if self._device_thread is None:
            self._device_thread = DeviceThread(self.identity.device)
        return self._device_thread

    @thread.setter
    def thread(self, value: DeviceThread) -> None:
        self._device_thread = value

    def generate(self, reqs: list[ImageRequest], on_step: StepCallback | None = None
                 ) -> list[ImageResult]:
        raise NotImplementedError

    async def agenerate(self, reqs: list[ImageRequest], on_step: StepCallback | None = None
                        ) -> list[ImageResult]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.thread.executor(), self.generate, reqs, on_step)

    def warm_up(self) -> None:
        pass

    async def aclose(self) -> None:
        await asyncio.to_thread(self.thread.close)
