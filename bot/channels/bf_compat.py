"""botbuilder quirks, measured on botbuilder 4.17.1 / msrest 0.7.1, handled in one place.

1. msrest's `ClientRetryPolicy.__init__` builds `status_forcelist` with
   `[i for i in range(999) if i not in self.safe_codes]`, where `safe_codes` is a
   500-element *list*: ~500k comparisons for every ConnectorClient, and CloudAdapter makes
   one per incoming activity. That scan was ~85% of a simple turn; making `safe_codes` a
   frozenset (same members, O(1) lookups) took a bare echo bot from ~95 to ~290
   requests/s here. The resulting `status_forcelist` is identical.
2. `CloudAdapter.process` calls `serializer_helper(invoke_response.body)`, which only
   accepts msrest Models. Invoke handlers (and the adapter itself for
   `deliveryMode: "expectReplies"`, whose body is `ExpectedReplies(...).serialize()`)
   return dicts, so those requests end in a 500. We serialize dicts as they are.
3. A malformed or forged `Authorization` header makes the authentication code raise
   whatever the JWT library raised (IndexError, jwt errors, ...), which CloudAdapter
   turns into a 500. Any failure to authenticate is a 401 here; malformed JSON is a 400,
   a wrong content type a 415.
4. The token validator refreshes Bot Framework's signing keys with blocking
   `requests.get` calls that have no timeout, inside async code: a slow key endpoint
   freezes every conversation on the server (once a day, and again whenever a token
   names an unknown key, at most hourly). The refresh runs in a thread with a timeout.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime
from typing import Any

from aiohttp import web
from botbuilder.core import Bot, serializer_helper
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity
from msrest.serialization import Model

log = logging.getLogger(__name__)


def patch_msrest_retry_policy() -> bool:
    """Make msrest's retry policy construction O(n). Idempotent; returns True if patched."""
    from msrest.universal_http.requests import ClientRetryPolicy

    if isinstance(ClientRetryPolicy.safe_codes, frozenset):
        return False
    ClientRetryPolicy.safe_codes = frozenset(ClientRetryPolicy.safe_codes)  # type: ignore[assignment]
    return True


def patch_openid_refresh(timeout_s: float = 10.0) -> bool:
    """Move the signing-key refresh off the event loop. Idempotent."""
    from botframework.connector.auth import jwt_token_extractor as jte

    if getattr(jte._OpenIdMetadata._refresh, "_easel_patched", False):
        return False

    def refresh_sync(self: Any) -> None:
        import requests

        response = requests.get(self.url, timeout=timeout_s)
        response.raise_for_status()
        keys = requests.get(response.json()["jwks_uri"], timeout=timeout_s)
        keys.raise_for_status()
        self.keys = keys.json()["keys"]
        self.last_updated = datetime.now()

    async def refresh(self: Any) -> None:
        await asyncio.to_thread(refresh_sync, self)

    refresh._easel_patched = True  # type: ignore[attr-defined]
    jte._OpenIdMetadata._refresh = refresh
    return True


def serialize_invoke_body(body: Any) -> Any:
    if body is None or isinstance(body, (dict, list, str, int, float, bool)):
        return body
    if isinstance(body, Model):
        return serializer_helper(body)
    raise TypeError(f"cannot serialize an invoke body of type {type(body).__name__}")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class EaselCloudAdapter(CloudAdapter):
    """CloudAdapter whose HTTP entry point answers 400/401/415 instead of 500."""

    async def process(self, request: web.Request, bot: Bot,  # type: ignore[override]
                      ws_response: web.WebSocketResponse | None = None) -> web.Response:
        if request.method != "POST":
            return _error(405, "use POST")
        if "application/json" not in request.headers.get("Content-Type", ""):
            return _error(415, "the body must be a JSON Bot Framework activity")
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return _error(400, "the body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object (an activity)")
        try:
            activity: Activity = Activity().deserialize(body)
        except Exception:  # msrest raises DeserializationError and friends
            return _error(400, "the body is not a valid activity")
        if not activity.type:
            return _error(400, "the activity has no type")
        if not activity.service_url:
            return _error(400, "the activity has no serviceUrl")

        auth_header = request.headers.get("Authorization", "")
        try:
            auth_result = await self.bot_framework_authentication.authenticate_request(
                activity, auth_header
            )
        except Exception as exc:  # every way a token can be wrong is a 401, never a 500
            log.info("rejected a request: %s: %s", type(exc).__name__, str(exc)[:200])
            return _error(401, "unauthorized")

        invoke_response = await self.process_activity(auth_result, activity, bot.on_turn)
        if invoke_response:
            try:
                data = serialize_invoke_body(invoke_response.body)
            except TypeError:
                log.exception("invoke handler returned an unserializable body")
                return _error(500, "the bot produced an invalid invoke response")
            status = int(invoke_response.status or 200)
            if data is None:
                return web.Response(status=status)
            return web.json_response(data=data, status=status)
        return web.Response(status=201)
