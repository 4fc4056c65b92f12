"""`easel arena board [--json] [--category C]`: the leaderboard in a terminal.

It reads the same store the server writes (Redis when `EASEL_REDIS_URL` is set, else the
JSONL journal under `EASEL_DATA_DIR`) and fits the board with a fixed seed, so two runs on
the same votes print the same intervals.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import numpy as np

from bot.app.services import storage_prefix  # the server's key prefix, so we read its keys
from bot.app.settings import Settings, SettingsError, load_settings
from bot.app.stores import open_arena_store
from bot.arena.board import board_text
from bot.arena.ratings import Board, build_board

__all__ = ["add_parser", "cmd_board", "load_board"]


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    a = sub.add_parser("arena", help="the arena: blind side-by-side votes and the leaderboard")
    asub = a.add_subparsers(dest="arena_command", required=True)
    b = asub.add_parser("board", help="print the leaderboard (Bradley–Terry, 95% CIs)")
    b.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    b.add_argument("--category", default=None, help="only battles of this prompt category")
    b.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds (default 1000)")
    b.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    b.set_defaults(func=cmd_board)
    return a


async def load_board(settings: Settings, *, category: str | None = None, rounds: int = 1000,
                     seed: int = 0) -> Board:
    store = await open_arena_store(settings, storage_prefix(settings))
    try:
        battles = await store.list_battles(category)
    finally:
        await store.aclose()
    return await asyncio.to_thread(build_board, battles, category=category, rounds=rounds,
                                   rng=np.random.default_rng(seed))


def cmd_board(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    if args.rounds < 1:
        print("easel arena board: --rounds must be at least 1", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"easel: {exc}", file=sys.stderr)
        return 2
    try:
        board = asyncio.run(load_board(settings, category=args.category, rounds=args.rounds,
                                       seed=args.seed))
    except (RedisError, OSError) as exc:
        where = "Redis (EASEL_REDIS_URL)" if settings.redis_url else str(settings.data_dir)
        print(f"easel arena board: cannot read the arena store in {where}: {exc}",
              file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(board.to_json(), indent=2, ensure_ascii=False))
    else:
        print(board_text(board))
    return 0
