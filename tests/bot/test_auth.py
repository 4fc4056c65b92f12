"""With MicrosoftAppId set, only valid Bot Framework tokens get in: everything else is 401."""

from __future__ import annotations

import time

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

APP_ID = "5f1e7d0c-1111-4222-8333-944455556666"


def _forged_token() -> str:
    """A well-formed RS256 token with the right claims, signed by a key we just made."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    return jwt.encode(
        {"iss": "https://api.botframework.com", "aud": APP_ID, "iat": now, "nbf": now - 5,
         "exp": now + 600, "serviceurl": "http://127.0.0.1"},
        key, algorithm="RS256", headers={"kid": "forged-key-1"},
    )


@pytest.mark.parametrize("header", [
    None,
    "garbage",
    "Bearer",
    "Bearer not.a.jwt",
    "Bearer " + "A" * 50,
    "Basic dXNlcjpwYXNz",
    "forged",
])
async def test_bad_tokens_get_401(header, app_factory, settings_factory, connector,
                                  activity_factory, openid_server):
    running = await app_factory(settings_factory(
        microsoft_app_id=APP_ID, microsoft_app_password="secret",
        bot_openid_metadata_url=openid_server))
    headers = {}
    if header == "forged":
        headers["Authorization"] = "Bearer " + _forged_token()
    elif header is not None:
        headers["Authorization"] = header
    async with aiohttp.ClientSession() as s:
        resp = await s.post(running.url + "/api/messages", json=activity_factory("/help"),
                            headers=headers)
        assert resp.status == 401
    assert connector.received == []  # nothing reached the bot


async def test_settings_reject_app_id_without_password(settings_factory):
    from bot.app.settings import SettingsError

    with pytest.raises(SettingsError, match="MicrosoftAppPassword"):
        settings_factory(microsoft_app_id=APP_ID)
