"""`easel keys create|list|revoke`: the API keys other apps call easel with.

`create NAME [--images-per-minute N] [--images-per-day N]` prints the new key once (only
its hash is kept); `list` shows names, creation, last use and limits, never keys;
`revoke NAME [--forget]` ends a key at once (the server reads the same store: Redis with
EASEL_REDIS_URL, else `<data dir>/api-keys.json`), and `--forget` also deletes the
pictures easel keeps for it (what `/forget` deletes for a chat user).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from datetime import datetime

import redis.asyncio as aioredis

from bot.app.settings import Settings
from bot.app.stores import open_api_conversations, open_image_store, open_key_store
from bot.pipeline.forget import forget_everything
from bot.state.keys import (
    ApiKey,
    KeyNameTaken,
    KeyStore,
    KeyStoreError,
    api_user_key,
    as_json,
    close_key_store,
)
from bot.state.storage import OUTAGES

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
               settings: Callable[[], Settings]) -> None:
    k = sub.add_parser("keys", help="API keys for other apps (EASEL_API=on)")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    c = ksub.add_parser("create", help="make a key and print it (shown only this once)")
    c.add_argument("name", help="who the key is for, e.g. open-webui")
    c.add_argument("--images-per-minute", type=int, default=None, metavar="N")
    c.add_argument("--images-per-day", type=int, default=None, metavar="N")
    ls = ksub.add_parser("list", help="names, creation, last use and limits (never keys)")
    ls.add_argument("--json", action="store_true", help="one JSON object per key")
    r = ksub.add_parser("revoke", help="end a key now")
    r.add_argument("name")
    r.add_argument("--forget", action="store_true",
                   help="also delete the pictures easel keeps for this key")
    k.set_defaults(func=lambda a: run(a, settings()))


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(_run(args, settings))
    except OUTAGES as exc:
        where = "Redis (EASEL_REDIS_URL)" if settings.redis_url else str(settings.data_dir)
        print(f"easel keys: cannot reach the key store in {where}: {exc}", file=sys.stderr)
        return 1
    except KeyStoreError as exc:
        print(f"easel keys: {exc}", file=sys.stderr)
        return 2


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    store = open_key_store(settings)
    try:
        if args.keys_command == "create":
            return await _create(store, args)
        if args.keys_command == "list":
            _print_list(await store.list(), args.json)
            return 0
        return await _revoke(store, settings, args.name, args.forget)
    finally:
        await close_key_store(store)


async def _create(store: KeyStore, args: argparse.Namespace) -> int:
    try:
        key, made = await store.create(args.name, images_per_minute=args.images_per_minute,
                                       images_per_day=args.images_per_day)
    except KeyNameTaken as exc:
        print(f"easel keys: {exc} (revoke it first, or pick another name)", file=sys.stderr)
        return 2
    print(key)
    print(f"key {made.name!r} made ({_limits(made)}). It is shown only now: store it where "
          "the app reads it. Send it as `Authorization: Bearer KEY`.", file=sys.stderr)
    return 0


async def _revoke(store: KeyStore, settings: Settings, name: str, forget: bool) -> int:
    revoked = await store.revoke(name)
    print(f"key {name!r} revoked" if revoked else f"there is no key called {name!r}",
          file=sys.stderr)
    if not forget:
        return 0 if revoked else 1
    client = aioredis.from_url(settings.redis_url, socket_timeout=3,
                               socket_connect_timeout=3) if settings.redis_url else None
    try:
        images = open_image_store(settings, client)
        conversations = open_api_conversations(settings, images, client)
        noted = await conversations.owned.read(api_user_key(name))
        await forget_everything(conversations, images, None, api_user_key(name))
    finally:
        if client is not None:
            await client.aclose()
    count = len(noted["image"])
    print(f"deleted what easel kept for {name!r} ({count} picture{'s' if count != 1 else ''})",
          file=sys.stderr)
    return 0


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).isoformat(sep=" ", timespec="minutes") if ts else "never"


def _limits(key: ApiKey) -> str:
    parts = [f"{key.images_per_minute}/min" if key.images_per_minute else "",
             f"{key.images_per_day}/day" if key.images_per_day else ""]
    return ", ".join(p for p in parts if p) or "the server's per-user limits"


def _print_list(keys: list[ApiKey], as_lines: bool) -> None:
    if as_lines:
        for key in keys:
            print(json.dumps(as_json(key)))
        return
    if not keys:
        print("no API keys yet: `easel keys create NAME` makes one")
        return
    print(f"{'name':<24} {'created':<17} {'last used':<17} limits")
    for key in keys:
        print(f"{key.name:<24} {_when(key.created):<17} {_when(key.last_used):<17} "
              f"{_limits(key)}")
