"""The canvas tools' wiring: region edit, zoom out, pan and upscale, over the image tool.

The operator's super-resolution model (EASEL_UPSCALER) is loaded here once, at start-up,
so a file that cannot be used stops the server with its reason instead of failing the
first /upscale; EASEL_MAX_UPSCALE_SIDE caps what an upscale may make.
"""

from __future__ import annotations

import logging

from bot.app.settings import Settings, SettingsError
from imaging.canvas import SpandrelUpscaler, Upscaler, UpscalerLoadError
from imaging.engines.registry import EngineSet
from imaging.jobs import Quotas
from tools.base import Tool
from tools.canvas import Canvas, PanTool, RegionEditTool, ZoomOutTool
from tools.image import GenerateImageTool
from tools.upscale import UpscaleTool

log = logging.getLogger(__name__)


def load_upscaler(settings: Settings, engine_device: str) -> Upscaler | None:
    """Blocking: the EASEL_UPSCALER model on the engine's GPU (or the CPU), or None."""
    if settings.upscaler is None:
        return None
    device = engine_device if engine_device.split(":")[0] in ("cuda", "mps") else "cpu"
    try:
        return SpandrelUpscaler.load(settings.upscaler, device)
    except UpscalerLoadError as exc:
        raise SettingsError(f"EASEL_UPSCALER: {exc}") from None


def canvas_tools(settings: Settings, generate: GenerateImageTool, engines: EngineSet,
                 quotas: Quotas, engine_device: str) -> list[Tool]:
    """The four canvas tools, sharing the image tool's runner, store, check and stamp."""
    canvas = Canvas(generate, engines, upscaler=load_upscaler(settings, engine_device),
                    max_upscale_side=settings.max_upscale_side, quotas=quotas)
    return [RegionEditTool(canvas), ZoomOutTool(canvas), PanTool(canvas), UpscaleTool(canvas)]
