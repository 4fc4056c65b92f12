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
   turns into a 500. Any failure to authenticate is a 401 here; a wrong content type is a
   415; malformed JSON is a 400, and so is an activity whose ids cannot address a reply
   (no conversation, an id that is not a short printable string), which botbuilder would
   otherwise take in and fail on half-way through the turn.
4. The token validator refreshes Bot Framework's signing keys with blocking
   `requests.get` calls that have no timeout, inside async code: a slow key endpoint
   freezes every conversation on the server (once a day, and again whenever a token
   names an unknown key, at most hourly). The refresh runs in a thread with a timeout.
5. CloudAdapter builds a new ConnectorClient for every activity and every proactive
   message; each one opens its own `requests.Session` (botframework's connector sends
   through `requests` in the default executor), so every reply pays a new TCP
   connection and the sessions are never closed. Clients are cached per
   (app id, service URL, audience) and closed when the app stops.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from datetime import datetime
from typing import Any

from aiohttp import web
from botbuilder.core import Bot, serializer_helper
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity
from botframework.connector.auth import (
    AuthenticateRequestResult,
    BotFrameworkAuthentication,
    ClaimsIdentity,
    ConnectorFactory,
)
from msrest.serialization import Model

from bot.channels.wire_json import parse_json

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


class ConnectorClientCache:
    """A small LRU of ConnectorClients keyed by (app id, service URL, audience)."""

    def __init__(self, max_size: int = 256) -> None:
        self.max_size = max_size
        self._clients: OrderedDict[tuple[str | None, str, str | None], Any] = OrderedDict()
        self.created = 0

    async def get(self, key: tuple[str | None, str, str | None], make: Any) -> Any:
        client = self._clients.get(key)
        if client is not None:
            self._clients.move_to_end(key)
            return client
        client = await make()
        self.created += 1
        self._clients[key] = client
        while len(self._clients) > self.max_size:
            _, old = self._clients.popitem(last=False)
            await _close_client(old)
        return client

    async def aclose(self) -> None:
        while self._clients:
            _, client = self._clients.popitem()
            await _close_client(client)


async def _close_client(client: Any) -> None:
    try:
        await client.close()
    except Exception as exc:  # closing is best effort
        log.debug("closing a connector client failed: %s", exc)


class _CachingConnectorFactory(ConnectorFactory):
    def __init__(self, inner: ConnectorFactory, cache: ConnectorClientCache) -> None:
        self._inner = inner
        self._cache = cache

    async def create(self, service_url: str, audience: str | None = None) -> Any:
        key = (getattr(self._inner, "_app_id", None), service_url, audience)
        return await self._cache.get(key, lambda: self._inner.create(service_url, audience))


class CachingBotFrameworkAuthentication(BotFrameworkAuthentication):
    """Delegates everything to botbuilder's authentication, but hands out connector
    factories that reuse ConnectorClients."""

    def __init__(self, inner: BotFrameworkAuthentication, cache: ConnectorClientCache) -> None:
        self._inner = inner
        self.cache = cache

    async def authenticate_request(self, activity: Activity, auth_header: str
                                   ) -> AuthenticateRequestResult:
        result = await self._inner.authenticate_request(activity, auth_header)
        if result.connector_factory is not None:
            result.connector_factory = _CachingConnectorFactory(result.connector_factory,
                                                                self.cache)
        return result

    async def authenticate_streaming_request(self, auth_header: str, channel_id_header: str
                                             ) -> AuthenticateRequestResult:
        return await self._inner.authenticate_streaming_request(auth_header, channel_id_header)

    def create_connector_factory(self, claims_identity: ClaimsIdentity) -> ConnectorFactory:
        return _CachingConnectorFactory(self._inner.create_connector_factory(claims_identity),
                                        self.cache)

    async def create_user_token_client(self, claims_identity: ClaimsIdentity) -> Any:
        return await self._inner.create_user_token_client(claims_identity)

    def create_bot_framework_client(self) -> Any:
        return self._inner.create_bot_framework_client()

    def get_originating_audience(self) -> str:
        return self._inner.get_originating_audience()

    async def authenticate_channel_request(self, auth_header: str) -> ClaimsIdentity:
        return await self._inner.authenticate_channel_request(auth_header)


def serialize_invoke_body(body: Any) -> Any:
    if body is None or isinstance(body, (dict, list, str, int, float, bool)):
        return body
    if isinstance(body, Model):
        return serializer_helper(body)
    raise TypeError(f"cannot serialize an invoke body of type {type(body).__name__}")


MAX_ID_CHARS = 1024  # Teams' longest ids (channel threads with a message id) are ~200
_ID = re.compile(rf"[^\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]{{1,{MAX_ID_CHARS}}}")
# (field, within): the ids a reply is addressed with; the conversation's is required.
_IDS = (("id", None), ("replyToId", None), ("id", "conversation"), ("id", "from"),
        ("id", "recipient"))


def addressing_problem(body: dict[str, Any]) -> str | None:
    """Why an activity cannot be answered, checked on the raw JSON: msrest turns a number,
    a list or an object where an id belongs into its `str()`, and botbuilder then fails
    half-way through the turn (or sends the junk on to the Bot Connector)."""
    if not isinstance(body.get("conversation"), dict) or body["conversation"].get("id") is None:
        return "the activity has no conversation"
    for name, within in _IDS:
        holder = body if within is None else body.get(within)
        if holder is None:
            continue
        if not isinstance(holder, dict):
            return f"the activity's {within} is not an object"
        value = holder.get(name)
        if value is not None and not (isinstance(value, str) and _ID.fullmatch(value)):
            return f"the activity's {within + '.' if within else ''}{name} is not a valid id"
    url = body.get("serviceUrl")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return "the activity has no serviceUrl"
    return None


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class EaselCloudAdapter(CloudAdapter):
    """CloudAdapter whose HTTP entry point answers 400/401/415 instead of 500, and which
    reuses connector clients."""

    def __init__(self, auth: BotFrameworkAuthentication) -> None:
        self.connector_cache = ConnectorClientCache()
        super().__init__(CachingBotFrameworkAuthentication(auth, self.connector_cache))

    async def aclose(self) -> None:
        await self.connector_cache.aclose()

    async def process(self, request: web.Request, bot: Bot,
                      ws_response: web.WebSocketResponse | None = None) -> web.Response:
        if request.method != "POST":
            return _error(405, "use POST")
        if "application/json" not in request.headers.get("Content-Type", ""):
            return _error(415, "the body must be a JSON Bot Framework activity")
        try:
            body = parse_json(await request.read(), request.charset)
        except ValueError:
            return _error(400, "the body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "the body must be a JSON object (an activity)")
        problem = addressing_problem(body)
        if problem:
            return _error(400, problem)
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
