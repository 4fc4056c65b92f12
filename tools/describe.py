"""`describe_image`: a stored picture → four prompts that would draw something like it.

The tool reads the picture from the image store and asks the deployment's `Describer`
(imaging/describe: the offline scene describer, or a vision chat model). It is registered
with the other tools, so the MCP server lists it, but the brain is never offered it (the
chat's brain gets generate_image only). The prompts are text shown to a person: callers
run them through checkpoint 2 (`allowed_prompts`) and drop the refused ones.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from imaging.describe import DescribeError, Describer
from imaging.store import ImageStore, decode_stored
from safety.gate import Gate
from tools.base import ToolContext, ToolError, ToolResult, ToolSpec


class DescribeImageArgs(BaseModel):
    """A picture easel keeps (one it made, or one sent to it)."""

    image_id: str = Field(min_length=22, max_length=64,
                          description="A picture easel made or was sent (its image id).")


DESCRIBE_IMAGE_SPEC = ToolSpec(
    name="describe_image",
    description="Four prompts that would draw something like the picture (its subject, "
                "colours and setting), for generate_image.",
    args_model=DescribeImageArgs,
)


class DescribeImageTool:
    spec = DESCRIBE_IMAGE_SPEC

    def __init__(self, describer: Describer, store: ImageStore) -> None:
        self.describer = describer
        self.store = store

    async def run(self, args: BaseModel, ctx: ToolContext) -> ToolResult:
        assert isinstance(args, DescribeImageArgs)
        if not self.store.valid_id(args.image_id):
            raise ToolError("that is not an image id")
        image = await decode_stored(await self.store.read(args.image_id))
        if image is None:
            raise ToolError("that image is no longer available")
        try:
            prompts = await self.describer.describe(image)
        except DescribeError as exc:
            raise ToolError(f"I couldn't describe that picture: {exc}") from None
        return ToolResult(text="\n".join(prompts), data={"prompts": prompts})


async def allowed_prompts(gate: Gate, prompts: list[str], user_id: str,
                          strictness: str | None = None) -> list[str]:
    """Checkpoint 2 on each prompt (it is text shown and offered to draw); the refused
    ones are left out."""
    verdicts = await asyncio.gather(*(gate.check_text(p, "prompt", user_id, strictness)
                                      for p in prompts))
    return [p for p, v in zip(prompts, verdicts, strict=True) if v.allowed]
