"""Arguments of the `generate_image` tool, as the brain sees them.

The pydantic model is the single source of truth: backends offer its JSON schema to the
LLM (`GENERATE_IMAGE_SPEC.json_schema()`) and validate whatever comes back against it, so
an LLM cannot smuggle an out-of-range `n` or a malformed size into the engine.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tools.base import ToolSpec

MAX_IMAGES = 4

# LLMs sometimes add harmless extra keys ("style": ...); ignoring them beats failing the turn.
_Prompt = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
_Negative = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class GenerateImageArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")

    prompt: _Prompt = Field(
        description=(
            "Detailed English image prompt: the user's subject first, then composition, "
            "lighting and medium. At most 77 CLIP tokens (about 50 words)."
        )
    )
    n: int = Field(default=1, ge=1, le=MAX_IMAGES, title="number of images",
                   description="Number of images, 1-4.")
    size: str | None = Field(
        default=None,
        pattern=r"^[1-9][0-9]{1,3}x[1-9][0-9]{1,3}$",
        description="Image size as WIDTHxHEIGHT in pixels, e.g. 768x512. Omit for the default.",
    )
    seed: int | None = Field(
        default=None,
        ge=0,
        le=2**63 - 1,
        description="Random seed; reuse the previous image's seed to keep its composition.",
    )
    negative_prompt: _Negative | None = Field(
        default=None,
        description="Things to keep out of the image, e.g. something the user asked to remove.",
    )


GENERATE_IMAGE_SPEC = ToolSpec(
    name="generate_image",
    description=(
        "Generate images from a text prompt. Call this when the user wants a picture, or "
        "wants to change the previous picture (then write a new full prompt that keeps the "
        "earlier subject and applies the change, and reuse the previous seed)."
    ),
    args_model=GenerateImageArgs,
)
