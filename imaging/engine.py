"""The image engine contract: requests in, PIL images out, in a worker thread."""

from __future__ import annotations

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

    @property
    def prompt(self) -> str:
        return self.request.prompt


class EngineError(Exception):
    """Root of the imaging errors."""


class EngineLoadError(EngineError):
    """The model could not be loaded; the message tells the operator what to set."""


class GenerationError(EngineError):
    """A generation failed; the user gets a message, the server keeps running."""


class Interrupted(EngineError):
    """Raised by a step callback to stop a batch; engines let it through unchanged."""


class ImageEngine(Protocol):
    """Runs in a worker thread or process, never on the event loop."""

    name: str
    default_size: tuple[int, int]
    default_steps: int
    max_batch_images: int

    def generate(self, reqs: list[ImageRequest], on_step: StepCallback | None = None
                 ) -> list[ImageResult]: ...
