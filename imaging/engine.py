"""The image engine contract: requests in, PIL images out, one awaitable call for every kind.

Local engines (diffusers, the Ray replicas' stand-ins) draw in their device's thread and
hop there inside `agenerate`; remote engines (OpenAI, Azure OpenAI, ComfyUI) wait on the
network on the loop. Callers never ask which kind they hold: what differs is declared in
`identity` and `capabilities`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from PIL import Image

from imaging.errors import ImagingError


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
    # A masked edit (inpainting; outpainting is one on a padded canvas): mode "L", the size
    # of `init_image`, 255 = redraw, 0 = keep. Engines that need a hard mask count 128 and
    # up as redraw. Without a `strength`, the masked part is drawn afresh (1.0).
    mask: Image.Image | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Checked here, not in each engine: a bad mask is the caller's bug, said once.
        if self.mask is None:
            return
        if self.init_image is None:
            raise GenerationError("a masked edit needs the picture to edit (init_image)")
        if self.mask.mode != "L":
            raise GenerationError(f"the mask must be a greyscale (mode L) image, "
                                  f"not mode {self.mask.mode}")
        if self.mask.size != self.init_image.size:
            raise GenerationError(
                f"the mask is {self.mask.width}x{self.mask.height} but the picture is "
                f"{self.init_image.width}x{self.init_image.height}; they must match")

    @property
    def is_edit(self) -> bool:
        return self.init_image is not None

    @property
    def is_masked(self) -> bool:
        return self.mask is not None

    def batch_key(self) -> tuple[object, ...]:
        """Requests with the same key can share one pipeline call."""
        return (self.width, self.height, self.steps, self.guidance_scale,
                self.negative_prompt is not None, self.is_edit, self.is_masked, self.strength)


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
    inpaint: bool = True  # masked edits (`ImageRequest.mask`) of a picture
    outpaint: bool = True  # masked edits of a canvas it did not draw (a padded one)
    upscale: bool = True  # an image-to-image refine pass at a larger size (the tools scale)

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

    def operations(self) -> list[str]:
        """What it does to a picture besides drawing one, as `/models` names it."""
        return [name for name, ok in (("edit", self.edits), ("inpaint", self.inpaint),
                                      ("outpaint", self.outpaint), ("upscale", self.upscale))
                if ok]


LOCAL_CAPABILITIES = EngineCapabilities()


@dataclass(frozen=True, slots=True)
class EngineIdentity:
    """Who an engine is, as it declares it (never probed from outside)."""

    model: str  # the model behind it: prompt profiles and C2PA's softwareAgent read this
    device: str  # "cuda", "mps", "cpu", "remote", "ray:cuda", ...
    # Waits on a network service: one job per call, and a cancelled job drops its call at
    # once (a local engine stops at its next step instead).
    remote: bool = False
    demo: bool = False  # the built-in demo model (its notices and profile)


class EngineError(ImagingError):
    """Root of the engine and job errors."""


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
    """What the runners, tools and wiring use: the same for local and remote engines."""

    name: str
    identity: EngineIdentity
    capabilities: EngineCapabilities
    default_size: tuple[int, int]
    default_steps: int
    guidance_scale: float
    max_batch_images: int  # images per call
    max_concurrency: int  # calls at once (a local engine: 1, its device thread)
    # The warm-up's request and seconds, once `warm_up` ran (None before, or remote): it
    # seeds the first place-in-line estimates.
    warm_up_timing: tuple[ImageRequest, float] | None

    async def agenerate(self, reqs: list[ImageRequest], on_step: StepCallback | None = None
                        ) -> list[ImageResult]:
        """Local engines run `generate` in their device thread; `on_step` is called there
        (or on the loop for a remote engine) and may raise `Interrupted`."""
        ...

    def warm_up(self) -> None:
        """Blocking: load and run once so the first user does not pay for it."""
        ...

    async def aclose(self) -> None: ...


class LocalImageEngine(ImageEngine, Protocol):
    """A local engine also draws synchronously: a Ray replica calls this in its own
    engine thread, and `agenerate` is this in the device thread."""

    def generate(self, reqs: list[ImageRequest], on_step: StepCallback | None = None
                 ) -> list[ImageResult]: ...
