"""The real demo engine at the pace of a slower GPU, so the runner shows live previews.

The demo model draws a picture in about 0.1 s on a CPU, faster than the runner's first
preview is due (after a second, or by half-way through a job of two seconds or more).
Each step here takes at least `step_s`, so previews come as they would on a real model:
what the streaming API and the web chat turn into partial images and progress pictures.
"""

from __future__ import annotations

import time

from imaging.engine import StepInfo
from imaging.engines.threaded import ThreadedEngine


class Paced(ThreadedEngine):
    def __init__(self, inner, step_s: float = 0.5) -> None:
        self.inner = inner
        self.step_s = step_s
        self.name = inner.name
        self.default_steps = inner.default_steps
        self.default_size = inner.default_size
        self.guidance_scale = inner.guidance_scale
        self.max_batch_images = inner.max_batch_images
        self.capabilities = inner.capabilities
        self.identity = inner.identity

    def generate(self, reqs, on_step=None):
        def step(info: StepInfo) -> None:
            time.sleep(self.step_s)
            if on_step is not None:
                on_step(info)

        return self.inner.generate(reqs, step)
