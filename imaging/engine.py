"""The image engine contract: requests in, PIL images out, in a worker thread."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from PIL import Image


@dataclass(frozen=True, slots=True)
class StepInfo:
    """One finished denoising step of a batch, as the engine reports it (worker thread)."""

    step: int
    total: int
    # A cheap look at every image of the batch so far, in request order (None when the
    # engine cannot make one). Made only when called: the runner asks about once a second.
    previews: Callable[[], list[Image.Image] | None] = field(default=lambda: None)


# Called from the worker thread after each step. It may raise `Interrupted` to stop the
# batch there (every job in it was cancelled).
StepCallback = Callable[[StepInfo], None]


@dataclass(frozen=True, slots=True)
class ImageRequest:
    prompt: str
    n: int = 1
    width: int = 512
    height: int = 512
    steps: int = 4
    guidance_scale: float = 0.0
    seed: int = 0
    negative_prompt: str | None = None
    # Image-to-image: start from `init_image` (resized to width x height); `strength` is
    # how far to move away from it (0 = unchanged, 1 = ignore it).
    init_image: Image.Image | None = field(default=None, compare=False, repr=False)
    strength: float | None = None

    @property
    def is_edit(self) -> bool:
        return self.init_image is not None

    def batch_key(self) -> tuple[object, ...]:
        """Requests with the same key can share one pipeline call."""
        return (self.width, self.height, self.steps, self.guidance_scale,
                self.negative_prompt is not None, self.is_edit, self.strength)


@dataclass(slots=True)
class ImageResult:
    request: ImageRequest
    images: list[Image.Image] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)  # one per image: image i used seeds[i]
    # The prompt the engine says it really used (OpenAI's `revised_prompt`), if it changed it.
    revised_prompt: str | None = None

    @property
    def prompt(self) -> str:
        return self.request.prompt


@dataclass(frozen=True, slots=True)
class EngineCapabilities:
    """What an engine can do, so requests it cannot serve get a clear answer up front."""

    # The sizes it makes; None: any size (multiples of 8) up to the deployment's limit.
    sizes: tuple[tuple[int, int], ...] | None = None
    max_n: int = 4  # images per request
    edits: bool = True  # image-to-image from a stored picture
    negative_prompt: bool = True
    seeds: bool = True  # the same seed makes the same picture again
    previews: bool = True
    steps: bool = True  # honours a step count

    def fit_size(self, width: int, height: int) -> tuple[int, int]:
        """The supported size nearest to the one asked for: closest shape first (aspect
        ratio, in log scale), then closest area."""
        if not self.sizes:
            return width, height
        want_ratio, want_area = math.log(width / height), math.log(width * height)
        return min(self.sizes, key=lambda s: (round(abs(math.log(s[0] / s[1]) - want_ratio), 3),
                                              abs(math.log(s[0] * s[1]) - want_area)))

    def describe_sizes(self) -> str:
        return ", ".join(f"{w}x{h}" for w, h in self.sizes) if self.sizes else "any"


LOCAL_CAPABILITIES = EngineCapabilities()


class EngineError(Exception):
    """Root of the imaging errors."""


class EngineLoadError(EngineError):
    """The model could not be loaded; the message tells the operator what to set."""


class GenerationError(EngineError):
    """A generation failed; the user gets a message, the server keeps running."""


class ContentRefused(GenerationError):
    """A remote provider's content policy declined the request (nothing was made)."""

    def __init__(self, provider: str, detail: str = "") -> None:
        super().__init__(f"{provider}'s content policy declined the request")
        self.provider = provider
        self.detail = detail  # the provider's own words, for the log


class EngineBusy(GenerationError):
    """A remote provider kept answering 429 (rate limited) after easel's retries."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Interrupted(EngineError):
    """Raised by a step callback to stop a batch; engines let it through unchanged."""


class ImageEngine(Protocol):
    """Runs in a worker thread or process, never on the event loop."""

    name: str
    default_size: tuple[int, int]
    default_steps: int
    max_batch_images: int
    capabilities: EngineCapabilities

    def generate(self, reqs: list[ImageRequest], on_step: StepCallback | None = None
                 ) -> list[ImageResult]: ...


class RemoteImageEngine(Protocol):
    """An engine that waits on a network service: it runs on the event loop (its I/O is
    async; decoding goes to a thread), one job per call, `max_concurrency` at a time."""

    name: str
    default_size: tuple[int, int]
    default_steps: int
    max_batch_images: int
    max_concurrency: int
    capabilities: EngineCapabilities

    async def agenerate(self, reqs: list[ImageRequest], on_step: StepCallback | None = None
                        ) -> list[ImageResult]: ...

    async def aclose(self) -> None: ...
