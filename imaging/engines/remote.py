"""What every remote engine shares: its HTTP session, its concurrency slots, closing.

OpenAI / Azure OpenAI and ComfyUI differ in their wire formats (their own modules) but
hold a network service the same way: one `aiohttp` session opened on first use, every
HTTP call taking one of `max_concurrency` slots, whichever job it serves.
"""

from __future__ import annotations

import asyncio

import aiohttp

from imaging.engine import EngineIdentity, ImageRequest


class RemoteEngine:
    default_steps = 1
    guidance_scale = 0.0  # remote services choose their own
    warm_up_timing: tuple[ImageRequest, float] | None = None  # no warm-up to time

    def __init__(self, name: str, model: str, *, max_concurrency: int,
                 base_url: str | None = None) -> None:
        self.name = name
        self.max_concurrency = max_concurrency
        self.identity = EngineIdentity(model=model, device="remote", remote=True)
        self._base_url = base_url
        self._slots = asyncio.Semaphore(max_concurrency)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """Opened on first use, on the loop that uses it."""
        if self._session is None:
            self._session = aiohttp.ClientSession(base_url=self._base_url)
        return self._session

    def warm_up(self) -> None:
        pass  # nothing to load: the service is warm or not, out of our hands

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
