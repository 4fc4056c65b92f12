"""A stand-in for a GPU: a fixed time per batch, whatever its size, and flat pictures.

bench/scale.py runs it in Ray Serve replicas so the figures measure orchestration
(dispatch, batching, streaming, failover) and not this machine's CPU. A real GPU also
takes about the same time for a batch of 1 or of 4 at small sizes, which is why batching
pays; this engine models exactly that and nothing else.
"""

from __future__ import annotations

import time

from PIL import Image

from imaging.engine import (
    EngineCapabilities,
    EngineIdentity,
    ImageRequest,
    ImageResult,
    StepCallback,
    StepInfo,
)
from imaging.engines.threaded import ThreadedEngine


class SimulatedEngine(ThreadedEngine):
    def __init__(self, seconds_per_batch: float, *, steps: int = 4, side: int = 64,
                 max_batch_images: int = 4) -> None:
        self.name = "simulated"
        self.seconds_per_batch = seconds_per_batch
        self.default_steps = steps
        self.default_size = (side, side)
        self.guidance_scale = 0.0
        self.max_batch_images = max_batch_images
        self.identity = EngineIdentity(model="simulated", device="simulated")
        self.capabilities = EngineCapabilities(max_n=max_batch_images)

    def generate(self, reqs: list[ImageRequest], on_step: StepCallback | None = None
                 ) -> list[ImageResult]:
        steps = max(1, reqs[0].steps)
        for step in range(1, steps + 1):
            time.sleep(self.seconds_per_batch / steps)
            if on_step is not None:
                on_step(StepInfo(step, steps))
        out = []
        for req in reqs:
            shade = req.seed % 256
            images = [Image.new("RGB", (req.width, req.height), (shade, (shade + i * 40) % 256, 90))
                      for i in range(req.n)]
            out.append(ImageResult(req, images, [req.seed + i for i in range(req.n)]))
        return out
