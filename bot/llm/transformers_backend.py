"""The `transformers` brain: a local chat model with native tool calling.

The model's own chat template renders the tools (`apply_chat_template(..., tools=...)`),
so a Qwen2.5 or Llama-3.x Instruct model sees tools the way it was trained to. Generation
is greedy (a rewrite should be reproducible), runs in a worker thread so the event loop
keeps serving other chats, and a semaphore bounds how many generations share the CPU/GPU.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from bot.llm.base import BrainError, BrainRequest, Decision
from bot.llm.common import (
    build_messages,
    decision_from_output,
    load_system_prompt,
    offered_tools,
    parse_model_output,
)

log = logging.getLogger(__name__)


class TransformersBrain:
    name = "transformers"

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        max_concurrency: int = 1,
        max_new_tokens: int = 160,
        system_prompt: str | None = None,
    ) -> None:
        if tokenizer.chat_template is None:
            raise ValueError("the tokenizer has no chat_template; use an Instruct/chat model")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.system_prompt = system_prompt
        self._slots = asyncio.Semaphore(max_concurrency)
        # Fast tokenizers must not be used from two threads at once ("Already borrowed");
        # generation itself may overlap, up to max_concurrency.
        self._tokenizer_lock = threading.Lock()

    @classmethod
    def load(
        cls,
        model_path_or_id: str,
        max_concurrency: int = 1,
        *,
        device: str | None = None,
        dtype: torch.dtype | None = None,
        max_new_tokens: int = 160,
    ) -> TransformersBrain:
        """Load once at start-up (blocking: call it from a thread inside a running loop)."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype is None:
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        log.info("loading rewriter model %s on %s", model_path_or_id, device)
        tokenizer = AutoTokenizer.from_pretrained(model_path_or_id)
        model = AutoModelForCausalLM.from_pretrained(model_path_or_id, dtype=dtype)
        # transformers types `.to` through a decorator whose signature says "a model".
        model = model.to(torch.device(device))  # type: ignore[arg-type]
        return cls(model, tokenizer, max_concurrency=max_concurrency, max_new_tokens=max_new_tokens)

    def messages(self, req: BrainRequest) -> list[dict[str, Any]]:
        system_prompt = self.system_prompt or load_system_prompt(req.max_prompt_tokens)
        return build_messages(req, system_prompt, arguments_as_json=False)

    def render(self, req: BrainRequest) -> str:
        """The exact text the model reads; useful when a template misbehaves."""
        return str(self.tokenizer.apply_chat_template(
            self.messages(req),
            tools=[spec.json_schema() for spec in offered_tools(req)],
            add_generation_prompt=True,
            tokenize=False,
        ))

    async def decide(self, req: BrainRequest) -> Decision:
        async with self._slots:
            text, finished = await asyncio.to_thread(self.generate, req)
        log.debug("rewriter output (finished=%s): %r", finished, text)
        parsed = parse_model_output(text)
        # A complete tool call is fine even if the model rambled on afterwards; a text answer
        # that never reached end-of-turn is cut off mid-thought (or a loop) and not shown.
        if isinstance(parsed, str) and not finished:
            raise BrainError(f"output cut off after {self.max_new_tokens} tokens")
        return decision_from_output(parsed, req, self.name)

    def generate(self, req: BrainRequest) -> tuple[str, bool]:
        """Blocking greedy generation: the new text, and whether it ended with end-of-turn."""
        try:
            with self._tokenizer_lock:
                encoded = self.tokenizer.apply_chat_template(
                    self.messages(req),
                    tools=[spec.json_schema() for spec in offered_tools(req)],
                    add_generation_prompt=True,
                    return_dict=True,
                    return_tensors="pt",
                )
        except Exception as exc:  # a template that cannot render tools is a setup problem
            raise BrainError(f"chat template failed: {exc}") from exc
        if not isinstance(encoded, Mapping):  # return_dict=True gives a BatchEncoding
            raise BrainError(f"chat template gave {type(encoded).__name__}, not tensors")
        inputs = {k: v.to(self.model.device) for k, v in encoded.items()}
        prompt_len = inputs["input_ids"].shape[-1]
        with torch.inference_mode():
            output = self.model.generate(
                **inputs,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                pad_token_id=(self.tokenizer.pad_token_id if self.tokenizer.pad_token_id
                              is not None else self.tokenizer.eos_token_id),
            )
        new_tokens = output[0, prompt_len:]
        stop_ids = _stop_ids(self.model, self.tokenizer)
        finished = len(new_tokens) < self.max_new_tokens or int(new_tokens[-1]) in stop_ids
        with self._tokenizer_lock:
            # Tool-call tags like <tool_call> are ordinary added tokens, so skipping special
            # tokens drops end-of-turn markers but keeps the call.
            text = self.tokenizer.decode(new_tokens, skip_special_tokens=True)
        return str(text), finished

    async def aclose(self) -> None:
        return None


def _stop_ids(model: PreTrainedModel, tokenizer: Any) -> set[int]:
    eos = getattr(model.generation_config, "eos_token_id", None)
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids
