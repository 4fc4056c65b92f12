"""Test and bench helpers for the brain backends (like `aiohttp.test_utils`).

- `build_tiny_chat_model`: a tiny Llama chat model written with `save_pretrained`, so the
  real `from_pretrained` path is exercised without downloads. Its word-level tokenizer is
  trained with `tokenizers` and carries a chat template that renders tools. With
  `reply=...` the weights are wired so greedy decoding writes exactly that reply (a bigram
  lookup: each reply token predicts the next); without it the weights stay random and the
  output is garbage, which is what the fallback tests need.
- `FakeChatServer`: an OpenAI-compatible `/v1/chat/completions` endpoint on loopback that
  answers real chat-completions JSON and records the requests it got.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

SPECIAL_TOKENS = ["[UNK]", "[PAD]", "<|system|>", "<|user|>", "<|assistant|>", "<|tool|>",
                  "<|end|>"]
TOOL_TAGS = ["<tool_call>", "</tool_call>"]

# Qwen-style: tools listed in the system turn, calls written as <tool_call> JSON </tool_call>.
# Tokens are whitespace-separated because the tokenizer splits on whitespace only.
CHAT_TEMPLATE = (
    "{%- if messages[0].role == 'system' %}{% set system = messages[0].content %}"
    "{% set turns = messages[1:] %}{% else %}{% set system = '' %}{% set turns = messages %}"
    "{% endif -%}"
    "<|system|> {{ system }}"
    "{%- if tools %} # Tools {% for tool in tools %}{{ tool | tojson }} {% endfor %}"
    "Call a tool with <tool_call> {\"name\": ..., \"arguments\": ...} </tool_call>{% endif %}"
    " <|end|>"
    "{%- for m in turns %}"
    "{%- if m.role == 'assistant' and m.tool_calls %} <|assistant|>"
    "{%- for c in m.tool_calls %} <tool_call> {{ c.function | tojson }} </tool_call>{% endfor %}"
    " <|end|>"
    "{%- elif m.role == 'tool' %} <|tool|> {{ m.content }} <|end|>"
    "{%- else %} <|{{ m.role }}|> {{ m.content }} <|end|>"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %} <|assistant|>{% endif %}"
)

CORPUS = [
    "draw me a cat on a skateboard",
    "a fox in the snow at night",
    "hello , I can draw pictures for you",
    "make it at night please",
]


def build_tiny_chat_model(path: Path, *, reply: str | None = None, seed: int = 0) -> Path:
    """Write a tiny chat model and tokenizer to `path`; returns `path`."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import (
        GenerationConfig,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    reply_words = reply.split() if reply else []
    if len(set(reply_words)) != len(reply_words):
        raise ValueError("reply tokens must be unique: each one predicts the next")
    raw = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    raw.train_from_iterator(
        [*CORPUS, " ".join(w for w in reply_words if w not in TOOL_TAGS)],
        trainers.WordLevelTrainer(special_tokens=SPECIAL_TOKENS),
    )
    raw.add_tokens(TOOL_TAGS)  # ordinary added tokens: they survive skip_special_tokens
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="[UNK]", pad_token="[PAD]", eos_token="<|end|>",
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    vocab = len(tokenizer)
    hidden = max(64, -(-vocab // 16) * 16)  # one dimension per token, for the wiring below
    eos = tokenizer.convert_tokens_to_ids("<|end|>")
    pad = tokenizer.convert_tokens_to_ids("[PAD]")
    config = LlamaConfig(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
        eos_token_id=eos, pad_token_id=pad, bos_token_id=None, tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    if reply is not None:
        _wire_reply(model, tokenizer, reply_words, eos, vocab, hidden)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _wire_reply(model: Any, tokenizer: Any, words: list[str], eos: int, vocab: int,
                hidden: int) -> None:
    """Make greedy decoding after `<|assistant|>` write `words`, then end the turn.

    The layers are silenced (zero output projections) so the residual stream carries the
    one-hot embedding of the current token; the head then maps token t to its successor.
    """
    import torch

    ids = tokenizer.convert_tokens_to_ids(["<|assistant|>", *words])
    if tokenizer.unk_token_id in ids[1:]:
        raise ValueError("a reply word is missing from the vocabulary")
    successor = {t: eos for t in range(vocab)}
    successor.update(zip(ids, [*ids[1:], eos], strict=True))
    with torch.no_grad():
        model.model.embed_tokens.weight.copy_(torch.eye(vocab, hidden))
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        head = torch.zeros(vocab, hidden)
        for token, nxt in successor.items():
            head[nxt, token] = 10.0
        model.lm_head.weight.copy_(head)


# --- OpenAI-compatible server ---------------------------------------------------------------
def tool_call_message(name: str, arguments: dict[str, Any] | str,
                      call_id: str = "call_0") -> dict[str, Any]:
    """An assistant message calling one tool; `arguments` as a dict or a raw string."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}]}


def text_message(content: str) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


def completion(message: dict[str, Any], model: str = "tiny") -> dict[str, Any]:
    """A chat.completion object as OpenAI, vLLM and Ollama return it."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": "tool_calls" if message.get("tool_calls") else "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


@dataclass
class FakeChatServer:
    """Answers every request with `message` (status 200), or `status`, after `delay_s`."""

    message: dict[str, Any] = field(default_factory=lambda: text_message("Hello!"))
    status: int = 200
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        return app

    async def _chat(self, request: web.Request) -> web.Response:
        self.requests.append(await request.json())
        self.headers.append(dict(request.headers))
        if self.delay_s:
            try:  # released early on shutdown so a "slow server" test does not stall teardown
                await asyncio.wait_for(self._release.wait(), self.delay_s)
            except TimeoutError:
                pass
        if self.status != 200:
            return web.json_response({"error": {"message": "boom", "type": "server_error"}},
                                     status=self.status)
        return web.json_response(completion(self.message, self.requests[-1].get("model", "")))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        """Serve on 127.0.0.1 (a free port); yields the base URL, e.g. http://127.0.0.1:1234/v1."""
        runner = web.AppRunner(self.app(), shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            self._release.set()
            await runner.cleanup()
