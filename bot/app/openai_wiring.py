"""EASEL_API=on: the key store, the index of what keys store, and the OpenAI Images API.

`install_api` is called by `create_app` after the services' lifecycle, so everything here
is built from the running services at start-up: the key store (Redis when easel has one,
else `<data dir>/api-keys.json`), the conversation store that notes each key's pictures
for `easel keys revoke --forget` (bot/app/stores.py), and the OpenAI routes' services.
The key store is on the app as `API_KEYS` for every API that needs a key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from bot.api.openai_images import ImagesDeps, OpenAIImages
from bot.api.openai_routes import add_openai_routes
from bot.app.engines import single_engine
from bot.app.settings import Settings
from bot.app.stores import open_api_conversations, open_key_store
from bot.state.conversations import StorageConversationStore
from bot.state.keys import KeyStore, close_key_store
from tools.image import GenerateImageTool

if TYPE_CHECKING:  # the services pull in torch
    from bot.app.services import Services

API_KEYS: web.AppKey[KeyStore] = web.AppKey("api_keys")
API_CONVERSATIONS: web.AppKey[StorageConversationStore] = web.AppKey("api_conversations")
OPENAI_IMAGES: web.AppKey[OpenAIImages] = web.AppKey("openai_images")


def images_deps(svc: Services, keys: KeyStore, conversations: StorageConversationStore
                ) -> ImagesDeps:
    s = svc.settings
    generate = svc.tools.get("generate_image")
    assert isinstance(generate, GenerateImageTool)
    return ImagesDeps(
        generate, svc.engines or single_engine(svc.engine), svc.gate, svc.store, keys,
        conversations, svc.brain, svc.assistant.config.profile_for, metrics=svc.metrics,
        quotas=svc.quotas, sign_copy=svc.stamp.sign_copy if svc.stamp else None,
        public_url=s.public_url, strictness=s.safety_strictness, max_images=s.max_images,
        max_side=s.max_image_side, max_body_bytes=s.api_max_body_mb * 1024 * 1024)


def install_api(app: web.Application, settings: Settings,
                get_services: Callable[[web.Application], Services]) -> None:
    async def opened(app: web.Application) -> AsyncIterator[None]:
        svc = get_services(app)
        keys = open_key_store(settings, svc.redis)
        conversations = open_api_conversations(settings, svc.store, svc.redis)
        app[API_KEYS] = keys
        app[API_CONVERSATIONS] = conversations
        app[OPENAI_IMAGES] = OpenAIImages(images_deps(svc, keys, conversations))
        try:
            yield
        finally:
            await close_key_store(keys)

    app.cleanup_ctx.append(opened)
    add_openai_routes(app, lambda a: a[OPENAI_IMAGES])
