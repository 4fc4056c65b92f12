"""Arguments of the canvas tools (region edit, zoom out, pan, upscale), as callers see them.

Like `generate_image`'s, these pydantic models are the single source of truth: the JSON
schema a brain or an MCP client is offered, and the check of whatever comes back. Values
a model cannot express (a region outside 0–1, a mask that is not a picture) are checked
by the tools before anything is queued, with a message for the user.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from tools.base import ToolSpec

# A data-URI-sized mask: the web chat's 3 MB upload limit, base64 encoded.
MAX_MASK_CHARS = 4 * 1024 * 1024 + 4
_Prompt = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
_ImageId = Annotated[str, StringConstraints(min_length=22, max_length=64)]
_Seed = Annotated[int, Field(ge=0, le=2**63 - 1)]


class _CanvasArgs(BaseModel):
    model_config = ConfigDict(extra="ignore")

    image_id: _ImageId = Field(description="The stored picture to work on.")
    prompt: _Prompt = Field(description="What the whole picture shows after the change (the "
                                        "engine draws the new part to match it).")
    seed: _Seed | None = None


class RegionEditArgs(_CanvasArgs):
    """Redraw one part of a picture: a box in fractions, or a mask the user drew."""

    region: str | None = Field(
        default=None, max_length=100, pattern=r"^[0-9.,\s()\[\]eE+-]+$",
        description="x0,y0,x1,y1 as fractions (0-1) of the width and height, e.g. "
                    "0,0,1,0.5 for the top half.")
    mask_png: str | None = Field(
        default=None, max_length=MAX_MASK_CHARS, title="mask",
        description="A base64 PNG the picture's size: white (or opaque) where to redraw.")
    strength: float | None = Field(
        default=None, ge=0.05, le=1.0,
        description="How far the region may move from what is there now; unset: redrawn "
                    "afresh.")

    @model_validator(mode="after")
    def _one_area(self) -> RegionEditArgs:
        if (self.region is None) == (self.mask_png is None):
            raise ValueError("give either a region or a mask")
        return self


ZOOM_FACTORS = (1.5, 2.0)


class ZoomOutArgs(_CanvasArgs):
    # A float with a check, not a Literal: typing's Literal takes no floats.
    factor: float = Field(default=2.0, description="How far to zoom out: 1.5 or 2.",
                          json_schema_extra={"enum": list(ZOOM_FACTORS)})

    @field_validator("factor")
    @classmethod
    def _offered(cls, value: float) -> float:
        if value not in ZOOM_FACTORS:
            raise ValueError("zooming out works by 1.5 or 2")
        return value


class PanArgs(_CanvasArgs):
    direction: Literal["left", "right", "up", "down"] = Field(
        description="Where the picture grows (by half its side); the original stays.")


class UpscaleArgs(_CanvasArgs):
    factor: Literal[2, 4] = Field(default=2, description="2 or 4 times larger each way.")
    mode: Literal["subtle", "creative"] = Field(
        default="subtle", description="subtle: the same picture, larger; creative: the model "
                                     "adds detail of its own.")


REGION_EDIT_SPEC = ToolSpec(
    name="edit_region",
    description="Redraw one region of a stored picture (a box or a drawn mask) to match the "
                "prompt, keeping every pixel outside it.",
    args_model=RegionEditArgs,
)
ZOOM_OUT_SPEC = ToolSpec(
    name="zoom_out",
    description="Zoom out of a stored picture: shrink it into the centre of a canvas of the "
                "same size and draw the new surroundings.",
    args_model=ZoomOutArgs,
)
PAN_SPEC = ToolSpec(
    name="pan",
    description="Extend a stored picture by half its side to the left, right, top or bottom, "
                "keeping the original pixels.",
    args_model=PanArgs,
)
UPSCALE_SPEC = ToolSpec(
    name="upscale",
    description="Make a stored picture 2 or 4 times larger: subtle keeps it faithful, "
                "creative adds detail.",
    args_model=UpscaleArgs,
)
