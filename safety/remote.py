"""Remote moderation backends for operators who have them: OpenAI-compatible `/moderations`
and Azure AI Content Safety.  Both map the service's categories onto ours and its scores
onto our scale (0.5 = the standard threshold), so the policy and strictness apply unchanged.

The `aiohttp.ClientSession` is injected (the app owns it in its cleanup context).  Any
transport error, non-2xx status or malformed body raises `RemoteClassifierError`, and the
gate fails closed on it.
"""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any, NotRequired, TypedDict

import aiohttp
from PIL import Image

from safety.errors import RemoteClassifierError
from safety.policy import Category, Verdict

# --- OpenAI-compatible /v1/moderations --------------------------------------------------

OPENAI_CATEGORIES: dict[str, Category] = {
    "sexual": Category.SEXUAL,
    "sexual/minors": Category.SEXUAL_MINORS,
    "harassment": Category.HARASSMENT,
    "harassment/threatening": Category.HARASSMENT,
    "hate": Category.HATE,
    "hate/threatening": Category.HATE,
    "illicit": Category.ILLEGAL,
    "illicit/violent": Category.ILLEGAL,
    "self-harm": Category.SELF_HARM,
    "self-harm/intent": Category.SELF_HARM,
    "self-harm/instructions": Category.SELF_HARM,
    "violence": Category.VIOLENCE,
    "violence/graphic": Category.VIOLENCE,
}
# A category the service itself flagged scores at least this much on our scale, so it is
# blocked at "standard" and "relaxed" even when its raw score is low.
FLAGGED_FLOOR = 0.75


class ModerationResult(TypedDict):
    flagged: bool
    categories: dict[str, bool]
    category_scores: dict[str, float]
    category_applied_input_types: NotRequired[dict[str, list[str]]]


class ModerationResponse(TypedDict):
    id: str
    model: str
    results: list[ModerationResult]


def openai_verdict(result: ModerationResult) -> Verdict:
    scores: dict[str, float] = {}
    for name, raw in result["category_scores"].items():
        category = OPENAI_CATEGORIES.get(name)
        if category is None:
            continue
        score = float(raw)
        if result["categories"].get(name):
            score = max(score, FLAGGED_FLOOR)
        scores[category.value] = round(max(scores.get(category.value, 0.0), score), 4)
    return _verdict(scores, "openai-moderation")


def _verdict(scores: dict[str, float], service: str) -> Verdict:
    # The gate re-decides with the policy; this verdict uses the standard threshold.
    over = [c for c in Category if scores.get(c.value, 0.0) >= 0.5]
    if not over:
        return Verdict(allowed=True, scores=scores, reason=service)
    top = Category.SEXUAL_MINORS if Category.SEXUAL_MINORS in over else max(over, key=lambda c: scores[c.value])
    return Verdict(allowed=False, category=top, scores=scores, reason=f"{service}:{top.value}")


def _png_data_url(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class _Service:
    name = "remote"

    def __init__(self, session: aiohttp.ClientSession, timeout_s: float) -> None:
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def _post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        try:
            async with self.session.post(url, json=body, headers=headers, timeout=self.timeout) as resp:
                if resp.status >= 300:
                    text = (await resp.text())[:200]
                    raise RemoteClassifierError(self.name, f"error response: {text!r}", resp.status)
                return await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RemoteClassifierError(self.name, f"{type(exc).__name__}: {exc}") from exc


class OpenAIModerationClassifier(_Service):
    """`TextClassifier` over an OpenAI-compatible moderation endpoint (one request per batch)."""

    name = "openai-moderation"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str,
        model: str = "omni-moderation-latest",
        timeout_s: float = 10.0,
    ) -> None:
        super().__init__(session, timeout_s)
        self.url = base_url.rstrip("/") + "/moderations"
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.model = model

    async def _moderate(self, inputs: list[Any]) -> list[ModerationResult]:
        doc = await self._post(self.url, {"model": self.model, "input": inputs}, self.headers)
        try:
            results: list[ModerationResult] = doc["results"]
            for r in results:
                _ = r["flagged"], r["categories"], r["category_scores"]
        except (KeyError, TypeError) as exc:
            raise RemoteClassifierError(self.name, f"malformed response: missing {exc}") from exc
        return results

    async def classify(self, texts: list[str]) -> list[Verdict]:
        if not texts:
            return []
        results = await self._moderate(list(texts))
        if len(results) != len(texts):
            raise RemoteClassifierError(self.name, f"{len(results)} results for {len(texts)} inputs")
        return [openai_verdict(r) for r in results]


class OpenAIModerationImageClassifier(OpenAIModerationClassifier):
    """`ImageClassifier` over the same endpoint (omni models take image inputs)."""

    async def _one(self, image: Image.Image) -> Verdict:
        part = {"type": "image_url", "image_url": {"url": _png_data_url(image)}}
        results = await self._moderate([part])
        if not results:
            raise RemoteClassifierError(self.name, "no result for image")
        return openai_verdict(results[0])

    async def classify(self, images: list[Image.Image]) -> list[Verdict]:  # type: ignore[override]
        return list(await asyncio.gather(*(self._one(im) for im in images)))


# --- Azure AI Content Safety ---------------------------------------------------------------

AZURE_API_VERSION = "2024-09-01"
AZURE_CATEGORIES: dict[str, Category] = {
    "Hate": Category.HATE,
    "SelfHarm": Category.SELF_HARM,
    "Sexual": Category.SEXUAL,
    "Violence": Category.VIOLENCE,
}
# Severity (0, 2, 4, 6 with FourSeverityLevels; 0-7 with EightSeverityLevels) → our scale:
# "low" (2) blocks only at strict strictness, "medium" (4) and up at standard.
AZURE_SEVERITY_SCORE = {0: 0.0, 1: 0.2, 2: 0.4, 3: 0.55, 4: 0.7, 5: 0.8, 6: 0.95, 7: 1.0}
AZURE_MAX_TEXT = 10_000


class CategoryAnalysis(TypedDict):
    category: str
    severity: int


class AnalyzeResponse(TypedDict):
    categoriesAnalysis: list[CategoryAnalysis]
    blocklistsMatch: NotRequired[list[dict[str, Any]]]


def azure_verdict(doc: AnalyzeResponse) -> Verdict:
    scores: dict[str, float] = {}
    for item in doc["categoriesAnalysis"]:
        category = AZURE_CATEGORIES.get(item["category"])
        if category is not None:
            severity = max(0, min(int(item.get("severity") or 0), 7))
            scores[category.value] = AZURE_SEVERITY_SCORE[severity]
    if doc.get("blocklistsMatch"):  # an operator's own blocklist hit is always a block
        return Verdict(allowed=False, category=None, scores=scores, reason="azure-content-safety:blocklist")
    return _verdict(scores, "azure-content-safety")


class AzureContentSafetyClassifier(_Service):
    """`TextClassifier` over Azure AI Content Safety `text:analyze` (one request per text)."""

    name = "azure-content-safety"
    operation = "text:analyze"

    def __init__(self, session: aiohttp.ClientSession, endpoint: str, key: str, timeout_s: float = 10.0) -> None:
        super().__init__(session, timeout_s)
        self.url = f"{endpoint.rstrip('/')}/contentsafety/{self.operation}?api-version={AZURE_API_VERSION}"
        self.headers = {"Ocp-Apim-Subscription-Key": key}

    async def _analyze(self, body: dict[str, Any]) -> Verdict:
        body = {**body, "categories": list(AZURE_CATEGORIES), "outputType": "FourSeverityLevels"}
        doc = await self._post(self.url, body, self.headers)
        try:
            return azure_verdict(doc)
        except (KeyError, TypeError, ValueError) as exc:
            raise RemoteClassifierError(self.name, f"malformed response: {exc!r}") from exc

    async def classify(self, texts: list[str]) -> list[Verdict]:
        return list(await asyncio.gather(*(self._analyze({"text": t[:AZURE_MAX_TEXT]}) for t in texts)))


class AzureContentSafetyImageClassifier(AzureContentSafetyClassifier):
    """`ImageClassifier` over Azure AI Content Safety `image:analyze`."""

    operation = "image:analyze"

    async def classify(self, images: list[Image.Image]) -> list[Verdict]:  # type: ignore[override]
        bodies = [{"image": {"content": _png_data_url(im).split(",", 1)[1]}} for im in images]
        return list(await asyncio.gather(*(self._analyze(b) for b in bodies)))
