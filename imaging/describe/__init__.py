"""Describing a picture as prompts that would draw something like it (`/describe`).

A `Describer` answers four prompts for a picture. Two backends:

- `SceneDescriber` (local.py, the offline default): a demo-model picture is measured with
  imaging/demo's own rules (background, the thing's colour, shape, place and size) and
  worded in the demo's caption vocabulary; any other picture gets modest prompts from
  simple analysis (dominant colours, brightness, orientation).
- `VisionDescriber` (vision.py, `EASEL_DESCRIBE_MODEL`): an OpenAI-compatible vision chat
  model, sent the picture as an `image_url` data URI.
"""

from __future__ import annotations

from typing import Protocol

from PIL import Image

from imaging.errors import ImagingError

PROMPTS = 4  # how many prompts a description gives


class DescribeError(ImagingError):
    """The picture could not be described; the message is safe to show."""


class Describer(Protocol):
    name: str

    async def describe(self, image: Image.Image) -> list[str]: ...


__all__ = ["PROMPTS", "DescribeError", "Describer"]
