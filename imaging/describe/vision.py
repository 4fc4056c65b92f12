"""Describing with an OpenAI-compatible vision chat model (`EASEL_DESCRIBE_MODEL`).

One chat-completions request: a system message asking for four prompts as a JSON list of
strings, and a user message with the picture as an `image_url` content part (a PNG data
URI), the shape OpenAI, vLLM and Ollama accept. The answer's content is read as that
list (a ```json fence around it is allowed); anything else is a `DescribeError`.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
from typing import Any

import aiohttp
from PIL import Image

from imaging.describe import PROMPTS, DescribeError

MAX_SIDE = 1024  # the picture is fitted within this before it is sent
MAX_PROMPT_CHARS = 400
SYSTEM = (f"You write prompts for a text-to-image model. Look at the picture and answer "
          f"with exactly {PROMPTS} different prompts that would draw something like it "
          "(subject, colours, setting, style; one sentence each), as a JSON list of "
          "strings and nothing else.")
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


class VisionDescriber:
    """`Describer` over an OpenAI-compatible `/chat/completions` endpoint."""

    name = "vision"

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 timeout_s: float = 60.0) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def describe(self, image: Image.Image) -> list[str]:
        uri = await asyncio.to_thread(data_uri, image)
        body = {"model": self.model, "temperature": 0.7, "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": [
                {"type": "text", "text": f"Describe this picture as {PROMPTS} prompts."},
                {"type": "image_url", "image_url": {"url": uri}}]}]}
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as http, \
                    http.post(self.url, json=body, headers=headers) as resp:
                if resp.status != 200:
                    raise DescribeError(f"the describing model answered HTTP {resp.status}")
                answer = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as exc:
            raise DescribeError(f"the describing model could not be reached "
                                f"({type(exc).__name__})") from exc
        return parse_prompts(answer)


def data_uri(image: Image.Image) -> str:
    """Blocking: `image` fitted within MAX_SIDE, as a PNG data URI."""
    image = image.convert("RGB")
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def parse_prompts(answer: Any) -> list[str]:
    """The prompts in a chat.completion object; `DescribeError` if there are none."""
    try:
        content = answer["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise DescribeError("the describing model sent no answer") from None
    text = str(content or "").strip()
    fenced = _FENCE.match(text)
    try:
        items = json.loads(fenced.group(1) if fenced else text)
    except json.JSONDecodeError:
        raise DescribeError("the describing model did not answer with a list") from None
    if not isinstance(items, list):
        raise DescribeError("the describing model did not answer with a list")
    prompts = [" ".join(str(p).split())[:MAX_PROMPT_CHARS] for p in items
               if isinstance(p, str) and p.strip()]
    if not prompts:
        raise DescribeError("the describing model gave no prompts")
    return prompts[:PROMPTS]
