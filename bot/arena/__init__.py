"""The arena: blind side-by-side battles between entries, one vote per user, and a
Bradley–Terry leaderboard with bootstrap intervals.

- `model`   Battle / Vote / Choice records
- `store`   the `ArenaStore` protocol, the memory + JSONL store
- `redis_store` the Redis store (atomic one-vote-per-user)
- `ratings` `build_board(battles) -> Board` (the fit, the anchor and the CIs are documented there)
- `board`   text table, HTML page with an SVG plot, `arena_page(store)` for `GET /arena`
- `entries` the arena's engine entries (the arena's turns are in bot/pipeline/arena_turns.py,
            `easel arena board` in bot/app/arena_cli.py)

The board's imports (numpy, scipy) stay out of this package root: import the modules.
"""
