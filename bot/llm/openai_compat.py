"""The `openai` brain: any OpenAI-compatible `/v1/chat/completions` server with tools.

Works with vLLM, Ollama, llama.cpp's server and Azure OpenAI's v1 endpoint. Transient
failures (429, 5xx, timeouts, dropped connections) are retried with exponential backoff;
anything else, and any unusable answer, raises `BrainError` so the caller can fall back.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.llm.base import BrainError, BrainRequest, Decision
from bot.llm.common import (
    ToolCall,
    build_messages,
    decision_from_output,
    load_system_prompt,
    offered_tools,
    parse_arguments,
    parse_model_output,
)

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 10.0  # never let a server park a chat turn for minutes


class OpenAIBrain:
    name = "openai"

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        *,
        timeout_s: float = 20.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        temperature: float = 0.2,
        max_tokens: int = 300,
        session: aiohttp.ClientSession | None = None,
        session_factory: Callable[[], aiohttp.ClientSession] | None = None,
        system_prompt: str | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key = api_key
        self.model = model
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.retries = retries
        self.backoff_s = backoff_s
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.system_prompt = system_prompt
        # A session passed in belongs to the caller; one we create (lazily, inside the event
        # loop, as aiohttp requires) is ours to close.
        self._session = session
        self._session_factory = session_factory or aiohttp.ClientSession
        self._owns_session = session is None

    def request_body(self, req: BrainRequest) -> dict[str, Any]:
        system_prompt = self.system_prompt or load_system_prompt(req.max_prompt_tokens)
        tool_choice: Any = "auto"
        if req.force_tool is not None:
            tool_choice = {"type": "function", "function": {"name": req.force_tool}}
        return {
            "model": self.model,
            "messages": build_messages(req, system_prompt, arguments_as_json=True),
            "tools": [spec.json_schema() for spec in offered_tools(req)],
            "tool_choice": tool_choice,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }

    async def decide(self, req: BrainRequest) -> Decision:
        payload = await self._post(self.request_body(req))
        return decision_from_output(_parse_completion(payload), req, self.name)

    async def aclose(self) -> None:
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            # Azure OpenAI reads `api-key`; everyone else reads the bearer token.
            headers["Authorization"] = f"Bearer {self.api_key}"
            headers["api-key"] = self.api_key
        return headers

    async def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        if self._session is None:
            self._session = self._session_factory()
        last_error = "no attempt made"
        for attempt in range(self.retries + 1):
            delay = self.backoff_s * 2**attempt
            try:
                async with self._session.post(
                    self.url, json=body, headers=self._headers(), timeout=self.timeout
                ) as resp:
                    if resp.status == 200:
                        try:
                            return await resp.json(content_type=None)
                        except (json.JSONDecodeError, aiohttp.ContentTypeError) as exc:
                            raise BrainError(f"{self.url} answered non-JSON") from exc
                    text = (await resp.text())[:200]
                    last_error = f"HTTP {resp.status}: {text}"
                    if resp.status not in RETRY_STATUSES:
                        raise BrainError(f"{self.url} refused the request: {last_error}")
                    delay = max(delay, _retry_after(resp.headers.get("Retry-After")))
            except TimeoutError:
                last_error = f"timed out after {self.timeout.total}s"
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            if attempt < self.retries:
                log.info("LLM call failed (%s); retry %d in %.2fs", last_error, attempt + 1, delay)
                await asyncio.sleep(delay)
        raise BrainError(f"{self.url} failed after {self.retries + 1} attempts: {last_error}")


def _retry_after(value: str | None) -> float:
    try:
        return min(float(value), MAX_RETRY_AFTER_S) if value else 0.0
    except ValueError:  # an HTTP date; not worth parsing for a chat turn
        return 0.0


def _parse_completion(payload: Any) -> ToolCall | str:
    try:
        message = payload["choices"][0]["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise BrainError("response has no choices[0].message") from exc
    calls = message.get("tool_calls") or []
    if calls:
        function = calls[0].get("function") or {}
        name = function.get("name")
        if not isinstance(name, str) or not name:
            raise BrainError("tool call has no function name")
        return ToolCall(name, parse_arguments(function.get("arguments", {})))
    content = message.get("content")
    if not isinstance(content, str):
        raise BrainError("response has neither tool_calls nor content")
    # Some servers (older Ollama and llama.cpp builds) leave the call as text in `content`.
    return parse_model_output(content)
