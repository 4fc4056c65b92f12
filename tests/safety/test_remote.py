"""Remote moderation backends against loopback servers speaking the real wire JSON."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from PIL import Image

from safety.config import SafetyPolicy
from safety.errors import RemoteClassifierError
from safety.gate import SafetyGate
from safety.policy import Category
from safety.remote import (
    AzureContentSafetyClassifier,
    AzureContentSafetyImageClassifier,
    OpenAIModerationClassifier,
    OpenAIModerationImageClassifier,
)

OPENAI_CATEGORIES = [
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors",
    "violence", "violence/graphic",
]


def openai_result(flags: dict[str, float] | None = None, flagged_names: tuple[str, ...] = ()) -> dict[str, Any]:
    """One `results[]` entry shaped like omni-moderation-latest's answer."""
    scores = {name: 1e-6 for name in OPENAI_CATEGORIES}
    scores.update(flags or {})
    return {
        "flagged": bool(flagged_names),
        "categories": {name: name in flagged_names for name in OPENAI_CATEGORIES},
        "category_scores": scores,
        "category_applied_input_types": {name: ["text"] for name in OPENAI_CATEGORIES},
    }


class FakeModerationAPI:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.status = 200

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/moderations", self.openai)
        app.router.add_post("/contentsafety/{op}", self.azure)
        return app

    async def openai(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((request.path, dict(request.headers), body))
        if self.status != 200:
            return web.json_response({"error": {"message": "Rate limit reached", "type": "requests"}}, status=self.status)
        results = []
        for item in body["input"]:
            if isinstance(item, dict):  # an image part
                results.append(openai_result({"sexual": 0.93}, ("sexual",)))
            elif "knife" in item:
                results.append(openai_result({"violence": 0.41, "violence/graphic": 0.2}, ("violence",)))
            elif "kill yourself" in item:
                results.append(openai_result({"harassment": 0.88, "self-harm/intent": 0.6}, ("harassment", "self-harm/intent")))
            else:
                results.append(openai_result({"sexual": 0.01}))
        return web.json_response({"id": "modr-0123", "model": body["model"], "results": results})

    async def azure(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append((request.path_qs, dict(request.headers), body))
        if request.headers.get("Ocp-Apim-Subscription-Key") != "az-key":
            return web.json_response({"error": {"code": "401", "message": "Access denied due to invalid subscription key."}}, status=401)
        severity = {"Hate": 0, "SelfHarm": 0, "Sexual": 0, "Violence": 0}
        if "image" in body:
            severity["Sexual"] = 6
        elif "gore" in body["text"]:
            severity["Violence"] = 4
        elif "mild" in body["text"]:
            severity["Violence"] = 2
        analysis = [{"category": c, "severity": s} for c, s in severity.items()]
        doc: dict[str, Any] = {"categoriesAnalysis": analysis}
        if "image" not in body:
            doc["blocklistsMatch"] = []
        return web.json_response(doc)


@pytest.fixture
async def api() -> AsyncIterator[tuple[FakeModerationAPI, str, aiohttp.ClientSession]]:
    fake = FakeModerationAPI()
    server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield fake, str(server.make_url("")).rstrip("/"), session
    await server.close()


async def test_openai_text_mapping(api) -> None:
    fake, base, session = api
    classifier = OpenAIModerationClassifier(session, base + "/v1", "sk-test")
    verdicts = await classifier.classify(["a red apple", "a knife fight", "go kill yourself"])
    assert [v.allowed for v in verdicts] == [True, False, False]
    assert verdicts[1].category is Category.VIOLENCE
    assert verdicts[1].scores["violence"] >= 0.75  # flagged by the service: floor applies
    assert verdicts[2].category is Category.HARASSMENT and verdicts[2].scores["self-harm"] >= 0.75
    path, headers, body = fake.requests[0]
    assert path == "/v1/moderations" and headers["Authorization"] == "Bearer sk-test"
    assert body == {"model": "omni-moderation-latest", "input": ["a red apple", "a knife fight", "go kill yourself"]}


async def test_openai_image(api) -> None:
    fake, base, session = api
    classifier = OpenAIModerationImageClassifier(session, base + "/v1", "sk-test")
    (verdict,) = await classifier.classify([Image.new("RGB", (32, 32), "red")])
    assert not verdict.allowed and verdict.category is Category.SEXUAL
    part = fake.requests[0][2]["input"][0]
    assert part["type"] == "image_url" and part["image_url"]["url"].startswith("data:image/png;base64,")


async def test_openai_error_status_raises(api) -> None:
    fake, base, session = api
    fake.status = 429
    with pytest.raises(RemoteClassifierError, match="429"):
        await OpenAIModerationClassifier(session, base + "/v1", "sk").classify(["hi"])


async def test_azure_text_severity_and_strictness(api) -> None:
    fake, base, session = api
    classifier = AzureContentSafetyClassifier(session, base, "az-key")
    verdicts = await classifier.classify(["a sunny meadow", "lots of gore", "a mild scuffle"])
    assert [v.allowed for v in verdicts] == [True, False, True]
    assert verdicts[1].category is Category.VIOLENCE
    path, headers, body = fake.requests[0]
    assert path == "/contentsafety/text:analyze?api-version=2024-09-01"
    assert headers["Ocp-Apim-Subscription-Key"] == "az-key"
    assert body["outputType"] == "FourSeverityLevels" and "text" in body
    # Severity 2 ("low") is blocked only at strict strictness, through the gate's policy.
    gate = SafetyGate(classifier, None, SafetyPolicy.load())
    assert (await gate.check_text("a mild scuffle", "input", "u")).allowed
    assert not (await gate.check_text("a mild scuffle", "input", "u", "strict")).allowed


async def test_azure_image(api) -> None:
    fake, base, session = api
    image = Image.new("RGB", (16, 16), "blue")
    (verdict,) = await AzureContentSafetyImageClassifier(session, base, "az-key").classify([image])
    assert verdict.category is Category.SEXUAL
    path, _, body = fake.requests[0]
    assert path.startswith("/contentsafety/image:analyze?api-version=2024-09-01")
    decoded = Image.open(io.BytesIO(base64.b64decode(body["image"]["content"])))
    assert decoded.size == (16, 16)


async def test_azure_bad_key_raises(api) -> None:
    _, base, session = api
    with pytest.raises(RemoteClassifierError, match="401"):
        await AzureContentSafetyClassifier(session, base, "wrong").classify(["hi"])
