"""Importing spandrel where torchvision cannot be imported.

spandrel imports torchvision when it is imported, for two architectures easel never loads
as an upscaler: LaMa (inpainting; torchvision's `rotate`) and RestoreFormer (faces;
`normalize`). easel pins a CPU build of torch, and PyPI's torchvision wheels are built
against the CUDA build: with the CPU torch they fail to import (missing libtorch_cuda),
and asking pip for one would replace torch. So where torchvision is absent or broken,
spandrel is imported with a stand-in for those three names, removed again at once so
nothing else in the process sees a torchvision that is not there. The stand-ins raise if
called, which only those two architectures would do.
"""

from __future__ import annotations

import enum
import importlib
import logging
import sys
import threading
import types
from typing import Any

log = logging.getLogger(__name__)
_lock = threading.Lock()


class _InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


def _unavailable(*_args: Any, **_kwargs: Any) -> Any:
    raise RuntimeError("this model needs torchvision, which is not installed with this torch")


def _stand_ins() -> dict[str, types.ModuleType]:
    root = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.__dict__.update(InterpolationMode=_InterpolationMode, rotate=_unavailable,
                               normalize=_unavailable)
    transforms.__dict__["functional"] = functional
    root.__dict__["transforms"] = transforms
    return {m.__name__: m for m in (root, transforms, functional)}


def _torchvision_works() -> bool:
    try:
        importlib.import_module("torchvision.transforms.functional")
        return True
    except Exception:  # ImportError when absent; RuntimeError from a CUDA-only wheel
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]  # a half-imported package would fail the same way later
        return False


def import_spandrel() -> types.ModuleType:
    """The `spandrel` module, imported once (thread-safe); ImportError when spandrel or
    one of its own light dependencies (einops, safetensors) is missing."""
    with _lock:
        loaded = sys.modules.get("spandrel")
        if loaded is not None:
            return loaded
        if _torchvision_works():
            return importlib.import_module("spandrel")
        log.info("torchvision is unavailable; importing spandrel without it "
                 "(its LaMa and RestoreFormer models will not load)")
        stand_ins = _stand_ins()
        sys.modules.update(stand_ins)
        try:
            return importlib.import_module("spandrel")
        finally:
            for name, module in stand_ins.items():
                if sys.modules.get(name) is module:
                    del sys.modules[name]
