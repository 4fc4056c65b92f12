"""Discord end to end: signed interaction JSON -> easel -> a fake Discord API on loopback.

The fake speaks the webhook and command endpoints easel uses, answers with Discord's
message/command objects, and models the one quirk that matters for ephemeral replies: a
follow-up sent while a deferred response is still loading edits that (public) message
instead of creating a new one.
"""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image

from imaging.engines.threaded import ThreadedEngine
from tests.support.engines import Broken

APP_ID = "1187001185010651136"
GUILD_ID = "1187001377998733342"
CHANNEL_ID = "1187001378535616554"
USER_ID = "80351110224678912"
SIDE = 128  # default image size in these tests


# ---- the fake Discord API ------------------------------------------------------------------
@dataclass
class Call:
    method: str
    path: str
    token: str | None
    payload: Any
    files: list[tuple[str, str, bytes]]  # (filename, content type, data)


@dataclass
class FakeDiscord:
    url: str = ""
    calls: list[Call] = field(default_factory=list)
    # (predicate, status, body): the first matching rule answers the next matching call.
    failures: list[tuple[Callable[[Call], bool], int, dict[str, Any]]] = field(default_factory=list)
    loading: set[str] = field(default_factory=set)  # tokens whose deferred message still loads
    originals: dict[str, dict[str, Any]] = field(default_factory=dict)
    ephemeral: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by token
    _next_id: int = 1187100000000000000
    _event: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_patch("/webhooks/{app}/{token}/messages/@original", self._edit)
        app.router.add_delete("/webhooks/{app}/{token}/messages/@original", self._delete)
        app.router.add_post("/webhooks/{app}/{token}", self._followup)
        app.router.add_put("/applications/{app}/commands", self._commands)
        app.router.add_put("/applications/{app}/guilds/{guild}/commands", self._commands)
        return app

    def snowflake(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    async def _record(self, request: web.Request) -> Call:
        payload: Any = None
        files: list[tuple[str, str, bytes]] = []
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                data = await part.read(decode=False)
                if part.name == "payload_json":
                    payload = json.loads(data)
                else:
                    assert part.name and part.name.startswith("files["), part.name
                    files.append((part.filename or "", part.headers.get("Content-Type", ""),
                                  bytes(data)))
        elif request.can_read_body:
            payload = await request.json()
        call = Call(request.method, request.path, request.match_info.get("token"), payload,
                    files)
        self.calls.append(call)
        self._event.set()
        return call

    def _failure(self, call: Call) -> web.Response | None:
        for i, (pred, status, body) in enumerate(self.failures):
            if pred(call):
                del self.failures[i]
                headers = {"Retry-After": str(int(body.get("retry_after", 1)) + 1)} if status == 429 else {}
                return web.json_response(body, status=status, headers=headers)
        return None

    def _message(self, payload: dict[str, Any], files: list[tuple[str, str, bytes]],
                 old: dict[str, Any] | None) -> dict[str, Any]:
        msg = dict(old) if old else {
            "id": self.snowflake(), "type": 20, "content": "", "channel_id": CHANNEL_ID,
            "author": {"id": APP_ID, "username": "easel", "avatar": None, "discriminator": "0000",
                       "public_flags": 0, "flags": 0, "bot": True, "global_name": None},
            "attachments": [], "embeds": [], "mentions": [], "mention_roles": [],
            "pinned": False, "mention_everyone": False, "tts": False,
            "timestamp": "2026-11-29T10:00:00.000000+00:00", "edited_timestamp": None,
            "flags": 0, "components": [], "application_id": APP_ID, "webhook_id": APP_ID,
        }
        for key in ("content", "components", "flags"):
            if key in payload:
                msg[key] = payload[key]
        if files:
            attachments = []
            for (name, ctype, data), meta in zip(files, payload["attachments"], strict=True):
                assert meta["filename"] == name
                with Image.open(io.BytesIO(data)) as img:
                    w, h = img.size
                aid = self.snowflake()
                attachments.append({
                    "id": aid, "filename": name, "size": len(data), "width": w, "height": h,
                    "content_type": ctype, "description": meta.get("description"),
                    "url": f"https://cdn.discordapp.com/attachments/{CHANNEL_ID}/{aid}/{name}",
                    "proxy_url": f"https://media.discordapp.net/attachments/{CHANNEL_ID}/{aid}/{name}"})
            msg["attachments"] = attachments
        elif payload.get("attachments") == []:
            msg["attachments"] = []
        if old:
            msg["edited_timestamp"] = "2026-11-29T10:00:05.000000+00:00"
        return msg

    async def _edit(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (fail := self._failure(call)) is not None:
            return fail
        token = request.match_info["token"]
        if token not in self.loading and token not in self.originals:
            return web.json_response({"message": "Unknown Message", "code": 10008}, status=404)
        self.loading.discard(token)
        self.originals[token] = self._message(call.payload, call.files, self.originals.get(token))
        return web.json_response(self.originals[token])

    async def _delete(self, request: web.Request) -> web.Response:
        await self._record(request)
        token = request.match_info["token"]
        if self.originals.pop(token, None) is None:
            return web.json_response({"message": "Unknown Message", "code": 10008}, status=404)
        return web.Response(status=204)

    async def _followup(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (fail := self._failure(call)) is not None:
            return fail
        token = request.match_info["token"]
        if token in self.loading:  # Discord: this edits the loading message, flags ignored
            self.loading.discard(token)
            payload = {k: v for k, v in call.payload.items() if k != "flags"}
            self.originals[token] = self._message(payload, call.files, None)
            return web.json_response(self.originals[token])
        msg = self._message(call.payload, call.files, None)
        if msg["flags"] & 64:
            self.ephemeral.setdefault(token, []).append(msg)
        return web.json_response(msg)

    async def _commands(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        if (fail := self._failure(call)) is not None:
            return fail
        if request.headers.get("Authorization") != "Bot test-bot-token":
            return web.json_response({"message": "401: Unauthorized", "code": 0}, status=401)
        guild = request.match_info.get("guild")
        return web.json_response([
            {"id": self.snowflake(), "application_id": APP_ID, "version": self.snowflake(),
             "default_member_permissions": None, "type": 1, "nsfw": False,
             **({"guild_id": guild} if guild else {}), **cmd}
            for cmd in call.payload])

    def on(self, token: str, *, method: str | None = None, files: bool | None = None) -> list[Call]:
        return [c for c in self.calls if c.token == token
                and (method is None or c.method == method)
                and (files is None or bool(c.files) == files)]

    async def wait_for(self, pred: Callable[[Call], bool], timeout: float = 60.0) -> Call:
        async def loop() -> Call:
            while True:
                for c in self.calls:
                    if pred(c):
                        return c
                self._event.clear()
                await self._event.wait()

        return await asyncio.wait_for(loop(), timeout)


# ---- fixtures ------------------------------------------------------------------------------
@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    server = TestServer(fake.app(), host="127.0.0.1", port=0)
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


@pytest.fixture
def signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


@dataclass
class DiscordApp:
    url: str
    key: Ed25519PrivateKey
    fake: FakeDiscord
    services: Any
    slept: list[float] = field(default_factory=list)  # the waits before the API's retries
    counter: int = 0

    def interaction(self, kind: int, data: dict[str, Any] | None = None, *,
                    user: str = USER_ID, **extra: Any) -> dict[str, Any]:
        self.counter += 1
        ix: dict[str, Any] = {
            "app_permissions": "562949953601536", "application_id": APP_ID,
            "attachment_size_limit": 10485760, "authorizing_integration_owners": {"0": GUILD_ID},
            "channel": {"flags": 0, "guild_id": GUILD_ID, "id": CHANNEL_ID, "name": "art",
                        "nsfw": False, "position": 0, "rate_limit_per_user": 0, "type": 0},
            "channel_id": CHANNEL_ID, "context": 0, "entitlement_sku_ids": [], "entitlements": [],
            "guild": {"features": [], "id": GUILD_ID, "locale": "en-US"},
            "guild_id": GUILD_ID, "guild_locale": "en-US",
            "id": str(1187200000000000000 + self.counter), "locale": "en-GB",
            "member": {"avatar": None, "deaf": False, "flags": 0, "mute": False, "nick": None,
                       "joined_at": "2024-01-02T03:04:05.000000+00:00", "pending": False,
                       "permissions": "2248473465835073", "premium_since": None, "roles": [],
                       "user": {"avatar": None, "discriminator": "0", "global_name": "Ada",
                                "id": user, "public_flags": 0, "username": "ada"}},
            "token": f"aW50ZXJhY3Rpb246MTE4NzIw{self.counter}{secrets.token_urlsafe(60)}",
            "type": kind, "version": 1,
        }
        if data is not None:
            ix["data"] = data
        ix.update(extra)
        return ix

    def command(self, name: str, **options: Any) -> dict[str, Any]:
        types = {str: 3, int: 4, bool: 5}
        opts = [{"name": k, "type": types[type(v)], "value": v} for k, v in options.items()]
        return self.interaction(2, {"id": "1187001500000000000", "name": name, "type": 1,
                                    **({"options": opts} if opts else {})})

    async def post(self, body: dict[str, Any] | bytes, *, key: Ed25519PrivateKey | None = None,
                   timestamp: int | None = None, headers: dict[str, str] | None = None
                   ) -> tuple[int, Any]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sig = (key or self.key).sign(ts.encode() + raw).hex()
        hdrs = {"Content-Type": "application/json", "X-Signature-Ed25519": sig,
                "X-Signature-Timestamp": ts}
        hdrs.update(headers or {})
        async with aiohttp.ClientSession() as s, s.post(
                self.url + "/api/discord/interactions", data=raw,
                headers={k: v for k, v in hdrs.items() if v is not None}) as resp:
            answer = await resp.json() if resp.content_type == "application/json" else await resp.text()
        if isinstance(body, dict) and isinstance(answer, dict) and answer.get("type") == 5:
            self.fake.loading.add(body["token"])  # what Discord does on a deferral
        return resp.status, answer


@pytest.fixture
async def discord_app(settings_factory, demo_engine, fake_discord, signing_key, monkeypatch
                      ) -> AsyncIterator[DiscordApp]:
    from bot.app.server import SERVICES, build_services, create_app, discord_config
    from bot.channels.discord import DiscordChannel, add_discord_routes
    from bot.channels.discord_api import DiscordAPI

    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # waits for real, and says how long it waited
        slept.append(seconds)
        await asyncio.sleep(seconds)

    init = DiscordAPI.__init__

    def recording_init(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("sleep", sleep)
        init(self, *args, **kwargs)

    monkeypatch.setattr(DiscordAPI, "__init__", recording_init)

    # Small default images keep the file fast on a shared CPU; the path is the same.
    settings = settings_factory(discord_public_key=public_hex(signing_key),
                                discord_api_base=fake_discord.url, image_size=f"{SIDE}x{SIDE}")
    services = build_services(settings, demo_engine)
    app = create_app(settings, services)
    config = discord_config(settings)
    # A no-op once create_app adds the route itself; then its own factory is used.
    add_discord_routes(app, lambda a: DiscordChannel(
        a[SERVICES].assistant, a[SERVICES].store, a[SERVICES].tasks, config))
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    yield DiscordApp(str(server.make_url("")).rstrip("/"), signing_key, fake_discord, services,
                     slept)
    await server.close()


def _attached_images(call: Call) -> list[Image.Image]:
    out = []
    for _, _, data in call.files:
        img = Image.open(io.BytesIO(data))
        img.load()
        out.append(img)
    return out


def _custom_ids(message: dict[str, Any]) -> list[str]:
    return [b["custom_id"] for row in message["components"] for b in row["components"]]


# ---- verification --------------------------------------------------------------------------
async def test_only_signed_fresh_requests_get_in(discord_app: DiscordApp):
    d = discord_app
    ping = d.interaction(1)
    ping.pop("member")
    ping["user"] = {"id": USER_ID, "username": "ada", "discriminator": "0", "avatar": None}
    assert await d.post(ping) == (200, {"type": 1})

    raw = json.dumps(ping).encode()
    ts = str(int(time.time()))
    good_sig = d.key.sign(ts.encode() + raw).hex()
    tampered = raw.replace(b'"version": 1', b'"version": 2')
    async with aiohttp.ClientSession() as s:
        async def status(body: bytes, headers: dict[str, str]) -> int:
            async with s.post(d.url + "/api/discord/interactions", data=body,
                              headers={"Content-Type": "application/json", **headers}) as r:
                return r.status

        both = {"X-Signature-Ed25519": good_sig, "X-Signature-Timestamp": ts}
        assert await status(raw, both) == 200
        assert await status(tampered, both) == 401
        assert await status(raw, {"X-Signature-Ed25519": good_sig}) == 401
        assert await status(raw, {"X-Signature-Timestamp": ts}) == 401
        assert await status(raw, {}) == 401
        assert await status(raw, {**both, "X-Signature-Ed25519": "zz" * 64}) == 401
        assert await status(raw, {**both, "X-Signature-Timestamp": str(int(ts) + 1)}) == 401
    assert (await d.post(ping, key=Ed25519PrivateKey.generate()))[0] == 401
    assert (await d.post(ping, timestamp=int(time.time()) - 301))[0] == 401  # replay
    assert (await d.post(ping, timestamp=int(time.time()) + 600))[0] == 401
    assert (await d.post(b"{not json"))[0] == 400  # well signed, but not JSON
    assert (await d.post(b"[1, 2]"))[0] == 400
    assert (await d.post({"type": 2, "data": {"name": "imagine"}}))[0] == 400  # no user
    assert d.fake.calls == []


# ---- commands ------------------------------------------------------------------------------
class HeldEngine(ThreadedEngine):
    """The real engine, held at the start of every batch until the test releases it."""

    def __init__(self, engine: Any, loop: asyncio.AbstractEventLoop) -> None:
        self._engine, self._loop = engine, loop
        self.started = asyncio.Event()  # a batch reached the engine
        self.release = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def generate(self, reqs, on_step=None):  # runs in the runner's engine thread
        self._loop.call_soon_threadsafe(self.started.set)
        self.release.wait()
        return self._engine.generate(reqs, on_step)


async def test_imagine_is_deferred_then_delivered_with_buttons(discord_app: DiscordApp):
    d = discord_app
    held = HeldEngine(d.services.runner.engine, asyncio.get_running_loop())
    d.services.runner.engine = held
    ix = d.command("imagine", prompt="a red apple on a table", n=2, seed=7)
    try:
        # The interaction is answered while its image cannot exist yet: the engine is held
        # until the answer is in (Discord drops an interaction not answered within 3 s;
        # bench/discord.py measures how fast). Timeouts here only keep a failure from hanging.
        posting = asyncio.create_task(d.post(ix))
        await asyncio.wait_for(held.started.wait(), 60)  # the generation is under way…
        await asyncio.wait({posting}, timeout=60)
        assert posting.done(), "the interaction was not answered before the image was made"
        assert posting.result() == (200, {"type": 5})  # …and the answer is a public deferral
        assert d.fake.on(ix["token"], files=True) == []
    finally:
        held.release.set()
    final = await d.fake.wait_for(lambda c: c.token == ix["token"] and bool(c.files))
    assert final.method == "PATCH" and final.path.endswith("/messages/@original")
    assert final.path.startswith(f"/webhooks/{APP_ID}/")
    images = _attached_images(final)
    assert [img.size for img in images] == [(SIDE, SIDE)] * 2
    payload = final.payload
    assert [a["id"] for a in payload["attachments"]] == [0, 1]
    assert [a["filename"] for a in payload["attachments"]] == [f[0] for f in final.files]
    content = payload["content"]
    assert len(content) <= 2000
    assert "a red apple on a table" in content and "seed 7" in content
    assert f"<@{USER_ID}>" in content
    assert payload["allowed_mentions"]["parse"] == []  # prompts cannot ping @everyone
    ids = _custom_ids(payload)
    labels = [b["label"] for row in payload["components"] for b in row["components"]
              if "label" in b]
    assert labels == ["U1", "U2", "V1", "V2", "Retry", "Edit", "Vary (Region)", "Undo",
                      "Zoom out 1.5×", "Zoom out 2×"]  # and four arrows without labels
    assert len(payload["components"]) == 5
    assert all(len(i) <= 100 for i in ids)
    assert ids[2].startswith("easel:v:") and ids[2].endswith(":1")
    # The placeholder showed what is being made before the images replaced it.
    first = d.fake.on(ix["token"])[0]
    assert first.method == "PATCH" and not first.files and "red apple" in first.payload["content"]
    assert d.fake.originals[ix["token"]]["attachments"][1]["width"] == SIDE


async def test_variation_button_and_edit_modal_make_new_images(discord_app: DiscordApp):
    d = discord_app
    ix = d.command("imagine", prompt="a lighthouse at dusk")
    await d.post(ix)
    await d.fake.wait_for(lambda c: c.token == ix["token"] and bool(c.files))
    message = d.fake.originals[ix["token"]]
    _, vary_id, retry_id, edit_id, _, undo_id, *_ = _custom_ids(message)
    generation = edit_id.removeprefix("easel:e:")

    press = d.interaction(3, {"component_type": 2, "custom_id": vary_id}, message=message)
    assert await d.post(press) == (200, {"type": 5})  # a new message, the grid stays
    varied = await d.fake.wait_for(lambda c: c.token == press["token"] and bool(c.files))
    assert _attached_images(varied)[0].size == (SIDE, SIDE)
    assert d.fake.originals[ix["token"]] == message  # the pressed message is untouched

    press = d.interaction(3, {"component_type": 2, "custom_id": edit_id}, message=message)
    status, modal = await d.post(press)
    assert status == 200 and modal["type"] == 9
    assert modal["data"]["custom_id"] == f"easel:m:{generation}"
    field_ = modal["data"]["components"][0]["components"][0]
    assert field_["type"] == 4 and field_["custom_id"] == "instruction"
    assert d.fake.on(press["token"]) == []  # a modal needs no webhook call

    submit = d.interaction(5, {"custom_id": modal["data"]["custom_id"], "components": [
        {"type": 1, "components": [{"type": 4, "custom_id": "instruction",
                                    "value": "make it night"}]}]}, message=message)
    assert await d.post(submit) == (200, {"type": 5})
    edited = await d.fake.wait_for(lambda c: c.token == submit["token"] and bool(c.files))
    assert _attached_images(edited)[0].size == (SIDE, SIDE)
    assert "night" in edited.payload["content"]


async def test_quick_answers_are_private_and_immediate(discord_app: DiscordApp):
    d = discord_app
    status, answer = await d.post(d.command("help"))
    assert status == 200 and answer["type"] == 4
    assert answer["data"]["flags"] == 64 and "/imagine" in answer["data"]["content"]
    status, answer = await d.post(d.command("settings", n=2, raw=True))
    assert answer["type"] == 4 and answer["data"]["flags"] == 64
    status, answer = await d.post(d.command("settings"))
    assert "n=2" in answer["data"]["content"] and "raw=on" in answer["data"]["content"]
    # A quick "no" to an image command is private too, and never touches the channel.
    status, answer = await d.post(d.command("vary", image=2))
    assert answer["type"] == 4 and answer["data"]["flags"] == 64
    assert "no picture" in answer["data"]["content"]
    status, answer = await d.post(d.command("frobnicate"))
    assert answer["type"] == 4 and answer["data"]["flags"] == 64
    # A DM: no guild, no member, the user at the top level.
    dm = d.command("history")
    for key in ("guild_id", "guild", "member", "guild_locale", "app_permissions"):
        dm.pop(key)
    dm.update(context=1, channel={"id": "1187009999000000001", "type": 1, "flags": 0},
              channel_id="1187009999000000001",
              user={"id": USER_ID, "username": "ada", "global_name": "Ada", "discriminator": "0"})
    status, answer = await d.post(dm)
    assert answer["type"] == 4 and "No pictures yet" in answer["data"]["content"]
    assert d.fake.calls == []


async def test_failures_are_told_privately_and_the_placeholder_goes(discord_app: DiscordApp):
    d = discord_app

    d.services.runner.engine = Broken()
    ix = d.command("imagine", prompt="a cat")
    assert await d.post(ix) == (200, {"type": 5})
    await d.fake.wait_for(lambda c: c.token == ix["token"] and c.method == "DELETE")
    [private] = d.fake.ephemeral[ix["token"]]  # a real ephemeral message, not the placeholder
    assert "try again" in private["content"].lower()
    assert ix["token"] not in d.fake.originals  # nothing public is left behind


# ---- limits --------------------------------------------------------------------------------
async def test_rate_limits_and_server_errors_are_retried(discord_app: DiscordApp):
    d = discord_app
    ix = d.command("imagine", prompt="a kite over a beach")

    def multipart(c: Call) -> bool:
        return c.token == ix["token"] and bool(c.files)

    d.fake.failures.append((multipart, 503, {"message": "upstream connect error", "code": 0}))
    d.fake.failures.append((multipart, 429, {"message": "You are being rate limited.",
                                             "retry_after": 0.4, "global": False}))
    await d.post(ix)
    await d.fake.wait_for(lambda c: multipart(c) and ix["token"] in d.fake.originals
                          and bool(d.fake.originals[ix["token"]]["attachments"]))
    tries = d.fake.on(ix["token"], files=True)
    assert len(tries) == 3
    assert len(d.slept) == 2 and d.slept[0] > 0  # a backoff after the 503…
    assert d.slept[1] == 0.4  # …then the body's retry_after, not the Retry-After header (1)
    assert _attached_images(tries[2])[0].size == (SIDE, SIDE)


async def test_oversized_images_are_reencoded_under_the_limit(discord_app: DiscordApp):
    d = discord_app
    ix = d.command("imagine", prompt="static noise")
    ix["attachment_size_limit"] = 3_000  # a demo picture is ~10-20 kB as PNG
    await d.post(ix)
    final = await d.fake.wait_for(lambda c: c.token == ix["token"] and bool(c.files))
    name, ctype, data = final.files[0]
    assert len(data) <= 3_000
    assert ctype == "image/jpeg" and name.endswith(".jpg")
    assert _attached_images(final)[0].format == "JPEG"


# ---- command registration ------------------------------------------------------------------
async def test_register_puts_the_command_file(settings_factory, fake_discord, capsys):
    from bot.app.discord_cli import MissingCredentials, RegisterError, load_commands, register

    settings = settings_factory(discord_api_base=fake_discord.url,
                                discord_application_id=APP_ID,
                                discord_bot_token="test-bot-token")
    fake_discord.failures.append((lambda c: True, 429, {"message": "You are being rate limited.",
                                                        "retry_after": 0.05, "global": False}))
    done = await register(settings)
    assert [c["name"] for c in done] == [c["name"] for c in load_commands()]
    assert all(c["id"] for c in done)
    assert [c.path for c in fake_discord.calls] == [f"/applications/{APP_ID}/commands"] * 2
    await register(settings, GUILD_ID)
    assert fake_discord.calls[-1].path == f"/applications/{APP_ID}/guilds/{GUILD_ID}/commands"

    with pytest.raises(MissingCredentials, match="DISCORD_BOT_TOKEN"):
        await register(settings.model_copy(update={"discord_bot_token": ""}))
    with pytest.raises(RegisterError, match="check DISCORD_BOT_TOKEN"):
        await register(settings.model_copy(update={"discord_bot_token": "wrong"}))


async def test_the_working_message_shows_previews_and_its_cancel_button_works(
        discord_app: DiscordApp):
    from tests.support.engines import Steered
    from tests.support.helpers import drain

    d = discord_app
    engine = Steered(d.services.runner.engine, hold_at=2)
    d.services.runner.engine = engine
    d.services.runner.preview_interval_s = 0  # a preview at every step from the second
    ix = d.command("imagine", prompt="a slow red tower")
    try:
        assert await d.post(ix) == (200, {"type": 5})
        # The original message is edited in place with the preview (at most once a second).
        shown = await d.fake.wait_for(lambda c: c.token == ix["token"] and bool(c.files))
        assert [f[0] for f in shown.files] == ["preview.png"]
        assert max(_attached_images(shown)[0].size) == 128
        assert "2/" in shown.payload["content"]
        [cancel_id] = _custom_ids(shown.payload)
        assert cancel_id.startswith("easel:c:")
        message = d.fake.originals[ix["token"]]

        # Someone else's press changes nothing, and says so privately.
        other = d.interaction(3, {"component_type": 2, "custom_id": cancel_id},
                              message=message, user="80351110224678913")
        status, answer = await d.post(other)
        assert status == 200 and answer["data"]["flags"] == 64
        assert "nothing in the making" in answer["data"]["content"]
        press = d.interaction(3, {"component_type": 2, "custom_id": cancel_id}, message=message)
        status, answer = await d.post(press)
        assert status == 200 and answer["data"]["content"] == "Cancelled 1 job."
    finally:
        engine.release.set()
    final = await d.fake.wait_for(lambda c: c.token == ix["token"] and c.method == "PATCH"
                                  and "Cancelled" in (c.payload or {}).get("content", ""))
    assert final.payload["components"] == [] and final.payload["attachments"] == []
    tasks = d.services.tasks
    await drain(tasks, keep=frozenset(t for t in tasks.snapshot()
                                      if t.get_name() == "easel-image-purge"))
    assert not [c for c in d.fake.on(ix["token"]) if c.files and c is not shown]  # no image


# ---- the arena -----------------------------------------------------------------------------
async def test_a_battle_in_discord_shows_a_and_b_and_takes_one_private_vote_each(
        discord_app: DiscordApp):
    d = discord_app
    ix = d.command("arena", prompt="a red apple on a table")
    assert await d.post(ix) == (200, {"type": 5})
    final = await d.fake.wait_for(lambda c: c.token == ix["token"] and bool(c.files))
    assert len(_attached_images(final)) == 2  # A and B
    message = d.fake.originals[ix["token"]]
    assert "**A** is the first picture" in message["content"]
    assert "demo" not in message["content"]  # the entries stay hidden
    ids = _custom_ids(message)
    labels = [b["label"] for row in message["components"] for b in row["components"]]
    assert labels == ["A is better", "B is better", "Tie", "Both bad"]
    assert all(i.startswith("easel:a:") and len(i) <= 100 for i in ids)

    press = d.interaction(3, {"component_type": 2, "custom_id": ids[0]}, message=message)
    status, answer = await d.post(press)
    assert status == 200 and answer["data"]["flags"] == 64  # the reveal is private
    assert "your vote counts: A is better" in answer["data"]["content"]
    assert "**A** was **demo" in answer["data"]["content"]
    again = d.interaction(3, {"component_type": 2, "custom_id": ids[1]}, message=message)
    status, answer = await d.post(again)
    assert "You already voted on this battle (a)" in answer["data"]["content"]
    # Someone else in the channel still has a vote, typed this time.
    other = d.command("vote", choice="tie")
    other["member"]["user"]["id"] = "1187000000000000999"
    status, answer = await d.post(other)
    assert "your vote counts: a tie" in answer["data"]["content"]
