"""Shared fixtures: the built-in demo model, a fake Bot Connector, app servers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach a model hub


@pytest.fixture(scope="session")
def demo_model_dir() -> Path:
    """The trained demo model that ships in the package: what easel uses by default."""
    from imaging.demo import default_model_dir

    return default_model_dir()


@pytest.fixture(scope="session")
def random_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weights Stable Diffusion folder (CLIP text encoder included), for the
    plain `from_pretrained` path every other model takes."""
    from tests.support.random_model import write_random_model

    return write_random_model(tmp_path_factory.mktemp("models") / "random")


@pytest.fixture(scope="session")
def demo_engine(demo_model_dir: Path):
    """One real DiffusersEngine for the session (loading is the slow part)."""
    from imaging.engines.diffusers import DiffusersEngine

    return DiffusersEngine.load(str(demo_model_dir), device="cpu")


@pytest.fixture(scope="session")
def safety_gate():
    """The real default gate (term rules + MiniLM head, NudeNet), loaded once."""
    from safety.audit import AuditLog, MemoryAuditSink
    from safety.config import SafetyPolicy
    from safety.gate import SafetyGate
    from safety.image import NudeNetClassifier
    from safety.text import LayeredTextClassifier

    policy = SafetyPolicy.load(None)
    gate = SafetyGate(LayeredTextClassifier.default(thresholds=policy.thresholds()),
                      NudeNetClassifier(policy.image_thresholds or None), policy,
                      AuditLog(MemoryAuditSink(), "test-salt"))
    asyncio.run(gate.warm_up())
    return gate


@pytest.fixture
def settings_factory(tmp_path: Path, demo_model_dir: Path):
    from bot.app.settings import load_settings

    def make(**overrides: Any):
        values: dict[str, Any] = {"data_dir": tmp_path / "data", "image_model": str(demo_model_dir)}
        values.update(overrides)
        return load_settings(**values)

    return make


@dataclass
class FakeConnector:
    """A Bot Connector speaking the v3 REST API on loopback; records what the bot sends."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    fail_next: int = 0  # answer this many sends with 503 first
    fail_updates: bool = False  # refuse in-place updates (some clients can't edit)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # attachments served
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3/conversations/{cid}/activities", self._send)
        app.router.add_post("/v3/conversations/{cid}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{cid}/activities/{aid}", self._update)
        app.router.add_get("/v3/attachments/{aid}/views/original", self._attachment)
        return app

    async def _attachment(self, request: web.Request) -> web.Response:
        found = self.files.get(request.match_info["aid"])
        if found is None:
            return web.json_response({"error": {"code": "NotFound"}}, status=404)
        return web.Response(body=found[0], content_type=found[1])

    async def _send(self, request: web.Request) -> web.Response:
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.json_response({"error": {"code": "ServiceError"}}, status=503)
        body = await request.json()
        body["_path"] = request.path
        body["_auth"] = request.headers.get("Authorization")
        body["_id"] = f"act-{len(self.received) + 1}"
        self.received.append(body)
        self._event.set()
        return web.json_response({"id": body["_id"]})

    async def _update(self, request: web.Request) -> web.Response:
        if self.fail_updates:
            return web.json_response({"error": {"code": "BadArgument"}}, status=400)
        body = await request.json()
        body["_updated"] = request.match_info["aid"]
        self.updated.append(body)
        self.received.append(body)  # what the user sees: tests read one list
        self._event.set()
        return web.json_response({"id": request.match_info["aid"]})

    def messages(self) -> list[dict[str, Any]]:
        return [a for a in self.received if a.get("type") == "message"]

    async def wait_for(self, pred, timeout: float = 60.0) -> dict[str, Any]:
        async def loop() -> dict[str, Any]:
            while True:
                for a in self.received:
                    if pred(a):
                        return a
                self._event.clear()
                await self._event.wait()

        return await asyncio.wait_for(loop(), timeout)


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = FakeConnector()
    server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


@pytest.fixture
def activity_factory(connector: FakeConnector):
    counter = {"n": 0}

    def make(text: str, *, conversation: str = "conv-1", user: str = "user-1",
             **extra: Any) -> dict[str, Any]:
        counter["n"] += 1
        act: dict[str, Any] = {
            "type": "message",
            "id": f"in-{counter['n']}",
            "timestamp": "2026-11-29T10:00:00.000Z",
            "serviceUrl": connector.url,
            "channelId": "msteams",
            "from": {"id": user, "name": "Ada", "aadObjectId": "00000000-0000-0000-0000-000000000001"},
            "conversation": {"id": conversation, "conversationType": "personal",
                             "tenantId": "tenant-1"},
            "recipient": {"id": "28:easel-bot", "name": "easel"},
            "text": text,
            "textFormat": "plain",
            "locale": "en-US",
            "channelData": {"tenant": {"id": "tenant-1"}},
        }
        act.update(extra)
        return act

    return make


@dataclass
class RunningApp:
    server: TestServer
    app: web.Application
    startup_tasks: frozenset = frozenset()  # the app's forever tasks (image purge, ...)

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def services(self):
        from bot.app.server import SERVICES

        return self.app[SERVICES]

    async def settled(self) -> None:
        """Wait until the background work the turns so far started (deliveries, compose
        jobs, and whatever they spawned) has finished: after it, no more messages come."""
        from tests.support.helpers import drain

        await drain(self.services.tasks, keep=self.startup_tasks)


@pytest.fixture
async def app_factory(demo_engine, safety_gate) -> AsyncIterator:
    """Start easel's real aiohttp app on loopback, sharing the session's loaded engine."""
    from bot.app.server import build_services, create_app

    started: list[RunningApp] = []

    async def make(settings, *, with_engine: bool = True, brain=None, redis=None,
                   gate=None) -> RunningApp:
        services = build_services(settings, demo_engine, brain, redis, gate or safety_gate) \
            if with_engine else None
        app = create_app(settings, services)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        running = RunningApp(server, app)
        # What runs before any turn is the app's own (the image purge): it never finishes.
        running.startup_tasks = running.services.tasks.snapshot()
        started.append(running)
        return running

    yield make
    for r in started:
        await r.server.close()


@pytest.fixture
async def openid_server() -> AsyncIterator[str]:
    """Bot Framework's OpenID metadata and signing keys, served on loopback with a key set
    that does not contain the forger's key (the real one is unreachable offline)."""
    import base64

    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    nums = key.public_numbers()

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(n.to_bytes((n.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()

    app = web.Application()
    holder: dict[str, str] = {}

    async def metadata(request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": "https://api.botframework.com",
            "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": holder["base"] + "/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        })

    async def keys(request: web.Request) -> web.Response:
        return web.json_response({"keys": [{
            "kty": "RSA", "use": "sig", "kid": "real-key-1", "n": b64(nums.n), "e": b64(nums.e),
            "endorsements": ["msteams"],
        }]})

    app.router.add_get("/openidconfiguration", metadata)
    app.router.add_get("/keys", keys)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    holder["base"] = str(server.make_url("")).rstrip("/")
    yield holder["base"] + "/openidconfiguration"
    await server.close()


@pytest.fixture
async def redis_client():
    """A real Redis (EASEL_TEST_REDIS_URL, default db 15), flushed before and after."""
    import redis.asyncio as aioredis

    url = os.environ.get("EASEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = aioredis.from_url(url, socket_timeout=3, socket_connect_timeout=1)
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        await client.aclose()
        pytest.skip(f"no Redis at {url} ({exc}); `make test` starts one")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def redis_server():
    """A redis-server of this test's own on a free loopback port: the test may `stop()`
    it (a crash) and `start()` it again on the same port."""
    import shutil

    from tests.support.redis_server import RedisServer

    if shutil.which("redis-server") is None:  # pragma: no cover - depends on the machine
        pytest.skip("redis-server is not installed; `make test` says how")
    server = RedisServer()
    await server.start()
    yield server
    await server.stop()
