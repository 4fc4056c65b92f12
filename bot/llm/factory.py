"""Pick the brain named by `EASEL_REWRITER`; settings are validated here, at start-up."""

from __future__ import annotations

from bot.llm.base import Brain
from bot.llm.fallback import FallbackBrain
from bot.llm.rules import RulesBrain

KINDS = ("rules", "transformers", "openai")
# A local model on CPU can take a while for ~160 tokens; past this the user waits too long
# and rules stands in.
TRANSFORMERS_TIMEOUT_S = 60.0


def build_brain(
    kind: str,
    *,
    model: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    max_concurrency: int = 1,
) -> Brain:
    """Build a brain; `transformers` loads the model now (blocking; seconds to minutes)."""
    kind = (kind or "rules").strip().lower()
    if kind == "rules":
        return RulesBrain()
    if kind == "transformers":
        if not model:
            raise ValueError(
                "EASEL_REWRITER=transformers needs EASEL_LLM_MODEL: a local model folder or a "
                "hub id such as Qwen/Qwen2.5-1.5B-Instruct"
            )
        # Imported here so the rules and openai backends never pay for importing torch.
        # lazy: only the configured backend loads (torch / HTTP client)
        from bot.llm.transformers_backend import TransformersBrain

        primary = TransformersBrain.load(model, max_concurrency=max_concurrency)
        return FallbackBrain(primary, RulesBrain(), timeout_s=TRANSFORMERS_TIMEOUT_S)
    if kind == "openai":
        if not base_url or not model:
            missing = [n for n, v in (("EASEL_LLM_BASE_URL", base_url), ("EASEL_LLM_MODEL", model))
                       if not v]
            raise ValueError(
                f"EASEL_REWRITER=openai needs {' and '.join(missing)} (e.g. "
                "EASEL_LLM_BASE_URL=http://localhost:11434/v1 EASEL_LLM_MODEL=qwen2.5:1.5b for "
                "Ollama); EASEL_LLM_API_KEY is optional for local servers"
            )
        # lazy: only the configured backend loads (torch / HTTP client)
        from bot.llm.openai_compat import OpenAIBrain

        # OpenAIBrain bounds its own time (timeout x attempts), so no outer timeout here.
        return FallbackBrain(OpenAIBrain(base_url, api_key, model), RulesBrain())
    raise ValueError(f"unknown EASEL_REWRITER {kind!r}; expected one of: {', '.join(KINDS)}")
