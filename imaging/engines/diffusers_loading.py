"""Choosing where and how a diffusers model loads, and saying clearly when it cannot."""

from __future__ import annotations

from typing import Any, Protocol

from imaging.engine import EngineLoadError


class Pipeline(Protocol):
    """What the engine uses of a diffusers pipeline: every text-to-image pipeline (and its
    image-to-image twin from `from_pipe`) has these. diffusers' own `DiffusionPipeline`
    declares no `__call__`, so it cannot be the type."""

    components: dict[str, Any]

    def __call__(self, **kwargs: Any) -> Any: ...


def pick_device(requested: str) -> str:
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(requested: str, device: str, model: str) -> Any:
    import torch

    if requested != "auto":
        return getattr(torch, requested)
    if device != "cuda":
        return torch.float32  # CPUs (and MPS, for safety) lack fast, exact fp16 paths
    # fp16 halves memory and doubles speed on GPUs; FLUX's T5 text encoder overflows in
    # fp16 (black or NaN images), so it gets bfloat16.
    if "flux" in model.lower() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def load_error(model: str, exc: BaseException, offline: bool) -> EngineLoadError:
    where = (
        "HF_HUB_OFFLINE is set, so only models already in the Hugging Face cache or a local "
        "folder can be used"
        if offline
        else "it is neither a local folder nor a model id the Hugging Face Hub could serve"
    )
    return EngineLoadError(
        f"easel could not load the image model {model!r}: {where} ({type(exc).__name__}: "
        f"{str(exc).splitlines()[0] if str(exc) else 'no details'}). Set EASEL_IMAGE_MODEL to a "
        "folder holding a diffusers pipeline (one with model_index.json) or to a hub id such "
        "as stabilityai/sd-turbo (download it once with network access, or unset "
        "HF_HUB_OFFLINE), or unset EASEL_IMAGE_MODEL to use the built-in demo model."
    )
