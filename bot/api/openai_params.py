"""The request fields of the OpenAI Images API, field by field, and what each means here.

- `model`: an engine name (GET /v1/models); OpenAI's own model names (`dall-e-3`,
  `gpt-image-1`, ...: `OPENAI_MODELS` prefixes) stand for the default engine, since many
  clients cannot change them; any other name is 404 `model_not_found`.
- `n` 1-10 (OpenAI's range; the deployment's EASEL_MAX_IMAGES caps it further), `size`
  `auto` or WIDTHxHEIGHT, `quality` sets the step count (low: half the engine's steps,
  high: 1.5x, xhigh/max: 2x), `output_format` png|jpeg|webp with `output_compression`,
  `response_format` b64_json (the default) or url, `stream` with `partial_images` 0-3.
- `background`: `auto` and `opaque`; no engine here draws transparency, so `transparent`
  is refused (400) rather than quietly ignored.
- `moderation`, `user`, `safety_identifier`, `style`: accepted; the operator's gate
  decides what is allowed, whatever `moderation` says.
- `easel_rewrite: true` (easel's own field): the rewriter turns the prompt into the
  engine's kind of prompt first, and `revised_prompt` says what was drawn.
An unknown field is 400 `unknown_parameter`, as OpenAI answers.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.api.openai_errors import ApiError, bad_param

# OpenAI's own image models (dall-e-3, gpt-image-1, gpt-image-2.5-flare, ...).
OPENAI_MODELS = ("dall-e-", "gpt-image-", "chatgpt-image-")
_SIZE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
_STEP_FACTOR = {"low": 0.5, "medium": 1.0, "standard": 1.0, "auto": 1.0, "high": 1.5,
                "hd": 1.5, "xhigh": 2.0, "max": 2.0}
# What the answer reports for each asked quality (the SDK's `quality` values).
_QUALITY_NAME = {"standard": "medium", "auto": "medium", "hd": "high"}

Quality = Literal["auto", "low", "medium", "high", "xhigh", "max", "standard", "hd"]


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    model: str | None = Field(default=None, max_length=200)
    n: int = Field(default=1, ge=1, le=10)
    size: str | None = Field(default=None, max_length=20)
    response_format: Literal["url", "b64_json"] | None = None
    user: str | None = Field(default=None, max_length=512)

    @field_validator("size")
    @classmethod
    def _size(cls, v: str | None) -> str | None:
        if v is None or v == "auto":
            return None
        if not _SIZE.match(v):
            raise ValueError("size must be 'auto' or WIDTHxHEIGHT, e.g. 1024x1024")
        return v


class _Output(_Fields):
    quality: Quality | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: int | None = Field(default=None, ge=0, le=100)
    moderation: Literal["low", "auto"] | None = None
    safety_identifier: str | None = Field(default=None, max_length=512)
    stream: bool | None = None
    partial_images: int | None = Field(default=None, ge=0, le=3)
    easel_rewrite: bool = False

    @field_validator("background")
    @classmethod
    def _background(cls, v: str | None) -> str | None:
        if v == "transparent":
            raise ValueError("transparent backgrounds are not available on this server; "
                             "use 'auto' or 'opaque'")
        return v

    @property
    def format(self) -> str:
        return self.output_format or "png"

    @property
    def quality_name(self) -> str:
        asked = self.quality or "auto"
        return _QUALITY_NAME.get(asked, asked)

    def steps(self, default: int) -> int | None:
        """The step count `quality` asks for (None: the engine's own)."""
        if self.quality in (None, "auto", "medium", "standard"):
            return None
        return max(1, min(150, round(default * _STEP_FACTOR[self.quality])))


class GenerationParams(_Output):
    prompt: str = Field(min_length=1, max_length=1000)
    style: Literal["vivid", "natural"] | None = None


class EditParams(_Output):
    prompt: str = Field(min_length=1, max_length=1000)
    input_fidelity: Literal["high", "low"] | None = None


class VariationParams(_Fields):
    pass


def parse(model: type[BaseModel], raw: dict[str, Any]) -> Any:
    """The request's fields, validated; the first problem is a 400 naming its field.
    Empty text fields count as absent (the SDK sends None as "" in a multipart body)."""
    raw = {k: v for k, v in raw.items() if v != ""}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise _problem(exc) from None


def _problem(exc: ValidationError) -> ApiError:
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error.get("loc") else None
    if error.get("type") == "extra_forbidden":
        return bad_param(name, f"Unknown parameter: '{name}'.", "unknown_parameter")
    if error.get("type") == "missing":
        return bad_param(name, f"Missing required parameter: '{name}'.",
                         "missing_required_parameter")
    if error.get("type") == "value_error":
        return bad_param(name, str(error.get("ctx", {}).get("error", error["msg"])))
    got = f" (got {error['input']!r})" if isinstance(error.get("input"), int | float) else ""
    return bad_param(name, f"Invalid '{name}': {error['msg'][0].lower()}{error['msg'][1:]}"
                           f"{got}.")
