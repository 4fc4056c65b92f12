"""The image tool between the runner and the channel: previews pass the image check."""

from __future__ import annotations

from PIL import Image

from imaging.jobs import JobProgress, LocalJobRunner
from imaging.store import FileImageStore
from tools.base import ToolContext
from tools.image import GenerateImageTool, ImageLimits
from tools.image_args import GenerateImageArgs


async def test_a_flagged_preview_ends_the_jobs_previews_but_not_the_job(demo_engine, tmp_path):
    checked: list[tuple[int, int]] = []

    async def check(images: list[Image.Image], user_id: str) -> tuple[list[bool], str | None]:
        checked.extend(im.size for im in images)
        is_preview = max(images[0].size) <= 128
        return [not is_preview] * len(images), None  # every preview looks bad; finals pass

    runner = LocalJobRunner(demo_engine, preview_interval_s=0)
    tool = GenerateImageTool(runner, FileImageStore(tmp_path), ImageLimits(
        default_size=(256, 256), steps=4, guidance_scale=3.0), check)
    seen: list[JobProgress] = []

    async def sink(event) -> None:
        if isinstance(event, JobProgress):
            seen.append(event)

    try:
        result = await tool.run(GenerateImageArgs(prompt="a red apple", seed=2),
                                ToolContext("c", "u", sink))
    finally:
        await runner.close()
    assert len(seen) == 4 and all(e.preview is None for e in seen)  # nobody saw a preview
    previews_checked = [s for s in checked if max(s) <= 128]
    assert len(previews_checked) == 1  # the first flag stopped the job's previews
    assert (256, 256) in checked and len(result.images) == 1  # the final image was checked
