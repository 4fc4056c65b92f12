"""How each engine wants its prompts: length, shape, and which enhancement cues help it.

The rewriter writes for the engine that will draw. A cue only helps an engine that learned
what it means: the built-in demo model knows nothing but its own caption grammar ("a red
cup at the top on a blue background"), so its profile adds nothing that could change the
picture; SD-turbo follows short tag lists; SD 1.x/2.x and SDXL take CLIP's 77 tokens of
comma-separated phrases; FLUX, SD3 and the OpenAI models read whole sentences, and DALL-E 3
and gpt-image-1 rewrite the prompt once more themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Style = Literal["caption", "tags", "sentences"]
ALL_CUES = frozenset({"medium", "composition", "lighting", "detail", "optics"})


@dataclass(frozen=True, slots=True)
class PromptProfile:
    name: str
    max_tokens: int  # CLIP tokens for CLIP-conditioned models, else a word budget
    style: Style
    cues: frozenset[str]  # the enhancement cue kinds that help this engine
    rewrites_itself: bool = False  # the engine revises prompts again (DALL-E 3, gpt-image-1)

    def guidance(self) -> str:
        """What an LLM rewriter is told about this engine (appended to its system prompt)."""
        if self.style == "caption":
            return ("The image model only understands short literal captions. Write the "
                    "user's request as a plain caption in English: the things, their colours, "
                    "positions and background exactly as asked, and add nothing else: no "
                    "style, lighting, camera or quality words.")
        kinds = ", ".join(sorted(self.cues)) or "none"
        shape = ("a short list of comma-separated tags, most important first" if
                 self.style == "tags" else "one or two natural English sentences")
        extra = (" The model revises prompts itself, so keep it faithful and plain."
                 if self.rewrites_itself else "")
        return (f"Write the prompt as {shape}, at most {self.max_tokens} tokens. Helpful cue "
                f"kinds for this model: {kinds}.{extra}")


DEMO = PromptProfile("demo", 77, "caption", frozenset())
SD_TURBO = PromptProfile("sd-turbo", 40, "tags", frozenset({"medium", "lighting", "detail"}))
SD = PromptProfile("stable-diffusion", 77, "tags", ALL_CUES)
SENTENCES = PromptProfile("sentences", 200, "sentences", ALL_CUES)
OPENAI_IMAGES = PromptProfile("openai-images", 300, "sentences",
                              frozenset({"medium", "composition", "lighting"}),
                              rewrites_itself=True)


def profile_for(model: str, *, demo: bool = False) -> PromptProfile:
    """The profile of an engine, from its model name (a hub id, a folder or an API model)."""
    if demo:
        return DEMO
    name = model.lower()
    if "dall-e" in name or "dalle" in name or "gpt-image" in name:
        return OPENAI_IMAGES
    if "turbo" in name or "lightning" in name or "lcm" in name:
        return SD_TURBO
    if "flux" in name or "stable-diffusion-3" in name or "sd3" in name:
        return SENTENCES
    return SD
