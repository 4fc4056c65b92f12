"""The `/describe` wiring: which describer the describe_image tool asks.

EASEL_DESCRIBE_MODEL set: that vision chat model at EASEL_LLM_BASE_URL (with
EASEL_LLM_API_KEY); unset: the offline scene describer (demo pictures in the demo's own
words, any other picture from simple analysis).
"""

from __future__ import annotations

from bot.app.settings import Settings
from imaging.describe import Describer
from imaging.describe.local import SceneDescriber
from imaging.describe.vision import VisionDescriber
from imaging.store import ImageStore
from tools.describe import DescribeImageTool


def build_describer(settings: Settings) -> Describer:
    if settings.describe_model and settings.llm_base_url:
        return VisionDescriber(settings.llm_base_url, settings.describe_model,
                               settings.llm_api_key)
    return SceneDescriber()


def describe_tool(settings: Settings, store: ImageStore) -> DescribeImageTool:
    return DescribeImageTool(build_describer(settings), store)
