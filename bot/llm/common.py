"""Pieces every brain backend shares.

- the system prompt (a data file, so wording changes are reviewed as text, not code);
- the chat messages an LLM sees (system prompt, earlier image turns, the user's text);
- parsing a model's raw text into a tool call or an answer (Qwen, Llama 3, Mistral forms);
- `check_decision`: the one definition of "usable" that backends and the fallback share;
- a conservative CLIP token estimate, because SD-family text encoders cut at 77 tokens.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from pydantic import ValidationError

from bot.llm.base import BrainError, BrainRequest, Decision
from tools.base import ToolSpec
from tools.image_args import GENERATE_IMAGE_SPEC

# Older turns add little for a rewrite and small local models lose the thread in long contexts.
MAX_HISTORY_TURNS = 4
MAX_ANSWER_CHARS = 4000
# A prompt a little over budget is trimmed at clause boundaries; one far over it means the
# model ignored the rules (or rambled), which we treat as unusable.
OVERLONG_FACTOR = 2


@cache
def _system_prompt_template() -> str:
    return resources.files("bot.llm").joinpath("system_prompt.md").read_text(encoding="utf-8")


def load_system_prompt(max_prompt_tokens: int = 77) -> str:
    return _system_prompt_template().replace("{max_prompt_tokens}", str(max_prompt_tokens)).strip()


def offered_tools(req: BrainRequest) -> list[ToolSpec]:
    """The tools a backend may call; an empty list means the image tool alone."""
    return list(req.tools) if req.tools else [GENERATE_IMAGE_SPEC]


def system_message(req: BrainRequest, system_prompt: str) -> str:
    message = f"{system_prompt}\n\n# The image model\n\n{req.profile.guidance()}"
    if req.force_tool is None:
        return message
    return (
        f"{message}\n\nThis message came with a command: call `{req.force_tool}` with a "
        "rewritten prompt for the user's text. Do not answer in words."
    )


def build_messages(
    req: BrainRequest, system_prompt: str, *, arguments_as_json: bool
) -> list[dict[str, Any]]:
    """OpenAI-style messages; earlier image turns become real tool calls plus tool results.

    OpenAI-compatible servers want `arguments` as a JSON string, Hugging Face chat templates
    want a dict (they `tojson` it themselves), hence `arguments_as_json`.
    """
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system_message(req, system_prompt)}
    ]
    for i, item in enumerate(req.history[-MAX_HISTORY_TURNS:]):
        args: dict[str, Any] = {"prompt": item.prompt}
        if item.seed is not None:
            args["seed"] = item.seed
        call_id = f"call_{i}"
        function = {
            "name": GENERATE_IMAGE_SPEC.name,
            "arguments": json.dumps(args) if arguments_as_json else args,
        }
        messages += [
            {"role": "user", "content": item.user_text},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": call_id, "type": "function", "function": function}],
            },
            {
                "role": "tool",
                "tool_call_id": call_id,
                "name": GENERATE_IMAGE_SPEC.name,
                "content": f"Image generated (seed {item.seed}) with prompt: {item.prompt}",
            },
        ]
    messages.append({"role": "user", "content": req.text})
    return messages


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]


_TOOL_TAG = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.S)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
# Prefixes some templates emit before a JSON tool call (Llama 3.1, Mistral).
_CALL_PREFIXES = ("<|python_tag|>", "[TOOL_CALLS]")
# Markup that must never reach a user as an "answer": a call the parser could not read.
_MARKUP = re.compile(r"</?tool_call>|<\|[a-z_]+\|>|\[TOOL_CALLS\]|\"(?:name|arguments)\"\s*:")


def parse_model_output(text: str) -> ToolCall | str:
    """A tool call in any of the common text forms, or the plain answer text."""
    stripped = text.strip()
    if not stripped:
        raise BrainError("the model returned nothing")
    tagged = _TOOL_TAG.search(stripped)
    if tagged:
        return _call_from_json(tagged.group(1))
    for prefix in _CALL_PREFIXES:
        if stripped.startswith(prefix):
            return _call_from_json(stripped[len(prefix) :])
    fenced = _FENCE.fullmatch(stripped)
    if fenced:
        return _call_from_json(fenced.group(1))
    if stripped[0] in "{[":
        return _call_from_json(stripped)
    if _MARKUP.search(stripped):
        raise BrainError(f"unreadable tool-call markup: {stripped[:80]!r}")
    return stripped


def _call_from_json(raw: str) -> ToolCall:
    raw = raw.strip()
    try:
        # raw_decode tolerates text after the JSON object (Llama often adds a sentence).
        obj, _ = json.JSONDecoder().raw_decode(raw)
    except json.JSONDecodeError as exc:
        raise BrainError(f"tool call is not valid JSON: {raw[:80]!r}") from exc
    if isinstance(obj, list) and obj:
        obj = obj[0]
    if not isinstance(obj, dict):
        raise BrainError("tool call is not a JSON object")
    if isinstance(obj.get("function"), dict):  # {"type": "function", "function": {...}}
        obj = obj["function"]
    name = obj.get("name")
    if not isinstance(name, str) or not name:
        raise BrainError("tool call has no name")
    return ToolCall(name, parse_arguments(obj.get("arguments", obj.get("parameters", {}))))


def parse_arguments(raw: Any) -> dict[str, Any]:
    """Tool arguments arrive as a JSON string (OpenAI) or an object (templates, Ollama)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            raise BrainError(f"tool arguments are not valid JSON: {raw[:80]!r}") from exc
    if not isinstance(raw, dict):
        raise BrainError("tool arguments are not a JSON object")
    return raw


def decision_from_output(parsed: ToolCall | str, req: BrainRequest, backend: str) -> Decision:
    if isinstance(parsed, ToolCall):
        decision = Decision(tool=parsed.name, args=parsed.arguments, backend=backend)
    else:
        decision = Decision(answer=parsed, backend=backend)
    return check_decision(decision, req)


def check_decision(decision: Decision, req: BrainRequest) -> Decision:
    """Raise BrainError unless `decision` is usable; returns it with normalised args."""
    if decision.tool is None:
        if req.force_tool is not None:
            raise BrainError(f"answered in words although {req.force_tool} was required")
        answer = (decision.answer or "").strip()
        if not answer:
            raise BrainError("empty answer")
        if len(answer) > MAX_ANSWER_CHARS:
            raise BrainError(f"over-long answer ({len(answer)} characters)")
        if _MARKUP.search(answer):
            raise BrainError("answer contains tool-call markup")
        decision.answer = answer
        return decision
    specs = {spec.name: spec for spec in offered_tools(req)}
    spec = specs.get(decision.tool)
    if spec is None:
        raise BrainError(f"unknown tool {decision.tool!r}")
    if req.force_tool is not None and decision.tool != req.force_tool:
        raise BrainError(f"called {decision.tool} although {req.force_tool} was required")
    raw_prompt = decision.args.get("prompt")
    if isinstance(raw_prompt, str) and not raw_prompt.strip():
        raise BrainError("empty prompt")
    try:
        args = spec.args_model.model_validate(decision.args)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        raise BrainError(f"invalid arguments for {decision.tool}: {where}: {err['msg']}") from exc
    prompt = getattr(args, "prompt", None)
    if isinstance(prompt, str):
        tokens = estimate_clip_tokens(prompt)
        if tokens > OVERLONG_FACTOR * req.max_prompt_tokens:
            raise BrainError(f"over-long prompt (~{tokens} CLIP tokens)")
        if tokens > clip_budget(req.max_prompt_tokens):
            args = args.model_copy(update={"prompt": fit_prompt(prompt, req.max_prompt_tokens)})
    decision.args = args.model_dump(exclude_none=True)
    decision.answer = None
    return decision


# --- CLIP token budget -------------------------------------------------------------------
# CLIP's BPE splits digits and punctuation into single tokens and most common English words
# into one; long or rare words take several. We over-count on purpose: a prompt cut short
# by one clause is better than one whose tail the text encoder silently drops.
_PIECE = re.compile(r"[^\W\d_]+|\d|[^\w\s]|_")


def estimate_clip_tokens(text: str) -> int:
    count = 0
    for piece in _PIECE.findall(text.lower()):
        if not piece.isalpha():
            count += 1
        elif not piece.isascii():
            count += 2 * len(piece)  # byte-level BPE: non-ASCII letters cost 2-3 bytes each
        elif len(piece) <= 8:
            count += 1
        else:
            count += math.ceil(len(piece) / 5)
    return count


def clip_budget(max_prompt_tokens: int) -> int:
    return max_prompt_tokens - 2  # start and end tokens count against the limit


def fit_prompt(prompt: str, max_prompt_tokens: int) -> str:
    """Keep whole comma-separated clauses, most important (leftmost) first, within budget."""
    budget = clip_budget(max_prompt_tokens)
    kept: list[str] = []
    for clause in (c.strip() for c in prompt.split(",")):
        if not clause:
            continue
        candidate = ", ".join([*kept, clause])
        if estimate_clip_tokens(candidate) <= budget:
            kept.append(clause)
            continue
        if not kept:  # the first clause alone is too long: keep as many words as fit
            words: list[str] = []
            for word in clause.split():
                if estimate_clip_tokens(" ".join([*words, word])) > budget:
                    break
                words.append(word)
            if not words:  # one word over the whole budget ("xxxx…"): as much as fits
                word = clause.split()[0]
                while word and estimate_clip_tokens(word) > budget:
                    word = word[: len(word) * 3 // 4]
                words.append(word)
            kept.append(" ".join(words))
        break
    return ", ".join(kept)
