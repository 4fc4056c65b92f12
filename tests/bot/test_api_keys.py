"""API keys (issue 28): the stores (a JSON file, Redis), `easel keys` create / list /
revoke / --forget against a running server, and a key's own quotas."""

from __future__ import annotations

import asyncio
import json
import stat

import aiohttp
import openai
import pytest

from bot.state.file_storage import FileStorage
from bot.state.keys import (
    BadKeyName,
    FileKeyStore,
    KeyNameTaken,
    RedisKeyStore,
    api_user_key,
    hash_key,
)
from bot.state.storage import CREATE_ONLY, EtagConflict
from tests.support.openai_api import client


@pytest.fixture(params=["file", "redis"])
async def store(request, tmp_path):
    if request.param == "file":
        yield FileKeyStore(tmp_path / "api-keys.json")
        return
    import os
    import secrets

    import redis.asyncio as aioredis

    url = os.environ.get("EASEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    redis_client = aioredis.from_url(url, socket_timeout=3, socket_connect_timeout=1)
    try:
        await redis_client.ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        await redis_client.aclose()
        pytest.skip(f"no Redis at {url} ({exc}); `make test` starts one")
    prefix = f"easel:test-{secrets.token_hex(4)}:"
    yield RedisKeyStore(redis_client, prefix)
    gone = [k async for k in redis_client.scan_iter(match=prefix + "*")]
    if gone:
        await redis_client.delete(*gone)
    await redis_client.aclose()


async def test_a_key_is_shown_once_and_kept_as_a_hash(store, tmp_path):
    key, made = await store.create("open-webui", images_per_minute=5)
    assert key.startswith("easel-") and len(key) > 40
    assert made.user_id == "key:open-webui" and made.last_used is None
    assert made.images_per_minute == 5 and made.images_per_day is None
    with pytest.raises(KeyNameTaken):
        await store.create("open-webui")
    for bad in ("", "has space", "-dash", "x" * 65, "../up"):
        with pytest.raises(BadKeyName):
            await store.create(bad)
    if isinstance(store, FileKeyStore):
        text = store.path.read_text()
        assert key not in text and hash_key(key) in text
        assert stat.S_IMODE(store.path.stat().st_mode) == 0o600

    found = await store.verify(key)
    assert found is not None and found.name == "open-webui" and found.last_used is not None
    for wrong in (key[:-1] + ("A" if key[-1] != "A" else "B"), "", "sk-123", key + "x"):
        assert await store.verify(wrong) is None
    [listed] = await store.list()
    assert listed.name == "open-webui" and listed.last_used is not None  # the use was noted

    assert await store.revoke("open-webui") and not await store.revoke("open-webui")
    assert await store.verify(key) is None and await store.list() == []
    again, _ = await store.create("open-webui")  # the name is free again, with a new key
    assert again != key and await store.verify(key) is None
    assert (await store.verify(again)) is not None


async def test_another_process_sees_a_revocation_at_once(tmp_path):
    server_side, cli_side = (FileKeyStore(tmp_path / "keys.json") for _ in range(2))
    key, _ = await cli_side.create("app")
    assert await server_side.verify(key) is not None
    await cli_side.revoke("app")
    assert await server_side.verify(key) is None


async def test_file_storage_keeps_e_tags_across_instances(tmp_path):
    a, b = FileStorage(tmp_path / "state"), FileStorage(tmp_path / "state")
    await a.write({"k": {"v": 1, "e_tag": CREATE_ONLY}})
    with pytest.raises(EtagConflict):
        await b.write({"k": {"v": 2, "e_tag": CREATE_ONLY}})
    item = (await b.read(["k"]))["k"]
    await b.write({"k": {"v": 2, "e_tag": item["e_tag"]}})
    with pytest.raises(EtagConflict):  # a's copy is stale now
        await a.write({"k": {"v": 3, "e_tag": item["e_tag"]}})
    assert (await a.read(["k", "missing"]))["k"]["v"] == 2
    await a.delete(["k"])
    assert await b.read(["k"]) == {}


async def test_a_keys_own_limits_replace_the_per_user_ones():
    from imaging.engine import ImageRequest
    from imaging.jobs import ImageJob, QuotaConfig, QuotaExceeded, Quotas

    quotas = Quotas(QuotaConfig(concurrent_jobs=None, images_per_minute=1))
    quotas.limit_user("key:big", images_per_minute=3, images_per_day=None)
    for _ in range(3):
        await quotas.admit(ImageJob(ImageRequest("x"), "key:big"))
    with pytest.raises(QuotaExceeded):
        await quotas.admit(ImageJob(ImageRequest("x"), "key:big"))
    await quotas.admit(ImageJob(ImageRequest("x"), "key:other"))  # the configured 1/min
    with pytest.raises(QuotaExceeded):
        await quotas.admit(ImageJob(ImageRequest("x"), "key:other"))


async def _easel(*argv: str) -> int:
    from bot.app.cli import main

    return await asyncio.to_thread(main, list(argv))


async def test_keys_cli_create_use_list_revoke_forget(app_factory, settings_factory,
                                                      monkeypatch, capsys):
    settings = settings_factory(api="on")
    monkeypatch.setenv("EASEL_DATA_DIR", str(settings.data_dir))
    running = await app_factory(settings)

    assert await _easel("keys", "create", "librechat", "--images-per-day", "50") == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("easel-")
    assert await _easel("keys", "create", "librechat") == 2  # the name is taken
    capsys.readouterr()

    sdk = client(running.url, key)
    made = await sdk.images.generate(prompt="a quiet harbour", n=2, response_format="url")
    image_files = sorted((settings.data_dir / "images").rglob("*.png"))
    assert len(image_files) == 2

    assert await _easel("keys", "list") == 0
    listing = capsys.readouterr().out
    assert "librechat" in listing and "50/day" in listing and key not in listing
    assert "never" not in listing.splitlines()[1]  # its last use is shown
    assert await _easel("keys", "list", "--json") == 0
    [entry] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert entry["user_id"] == "key:librechat" and entry["images_per_day"] == 50

    from bot.app.openai_wiring import API_CONVERSATIONS

    noted = await running.app[API_CONVERSATIONS].owned.read(api_user_key("librechat"))
    assert len(noted["image"]) == 2  # noted under the key as they were stored
    assert await _easel("keys", "revoke", "librechat", "--forget") == 0
    assert "2 pictures" in capsys.readouterr().err
    with pytest.raises(openai.AuthenticationError):
        await sdk.images.generate(prompt="a quiet harbour")
    await sdk.close()
    assert not any(p.exists() for p in image_files)  # what the key made is gone
    async with aiohttp.ClientSession() as s, s.get(made.data[0].url) as resp:
        assert resp.status == 404
    assert await _easel("keys", "revoke", "librechat") == 1  # nothing left to revoke
