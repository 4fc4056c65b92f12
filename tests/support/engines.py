"""Engines with a test's hand on them (the real demo engine inside)."""

from __future__ import annotations

import threading

from imaging.engine import EngineCapabilities, EngineIdentity, StepInfo
from imaging.engines.threaded import ThreadedEngine


class Steered(ThreadedEngine):
    """The real engine, with a test's hand on it: batches wait at a step until released,
    and every prompt that reached the pipeline is noted."""

    def __init__(self, inner, hold_at: int | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.default_steps = inner.default_steps
        self.default_size = inner.default_size
        self.guidance_scale = inner.guidance_scale
        self.max_batch_images = 4
        self.capabilities = inner.capabilities
        self.identity = inner.identity
        self.hold_at = hold_at
        self.at_hold = threading.Event()
        self.release = threading.Event()
        self.prompts: list[str] = []
        self.steps_run: list[int] = []

    def generate(self, reqs, on_step=None):
        self.prompts.extend(r.prompt for r in reqs)

        def step(info: StepInfo) -> None:
            self.steps_run.append(info.step)
            if on_step is not None:
                on_step(info)  # may raise Interrupted: the batch stops here
            if self.hold_at is not None and info.step == self.hold_at:
                # As if the next step were slow: what the test does now lands mid-step.
                self.at_hold.set()
                assert self.release.wait(30), "the test never released the engine"

        return self.inner.generate(reqs, step)


class Broken(ThreadedEngine):
    """A model that fails every batch, the way a CUDA or shape error does."""

    name = "broken"
    identity = EngineIdentity(model="broken", device="cpu")
    default_size = (64, 64)
    default_steps = 1
    guidance_scale = 0.0
    max_batch_images = 8
    capabilities = EngineCapabilities()

    def __init__(self, error: str = "CUDA error: device-side assert triggered") -> None:
        self.error = error

    def generate(self, reqs, on_step=None):
        raise RuntimeError(self.error)
