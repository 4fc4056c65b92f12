"""The arena: blind side-by-side battles between entries, one vote per user, and a
Bradley–Terry leaderboard with bootstrap intervals.

- `model`   Battle / Vote / Choice records
- `store`   the `ArenaStore` protocol, the memory + JSONL store, `open_store(settings, prefix)`
- `redis_store` the Redis store (atomic one-vote-per-user)
- `ratings` `build_board(battles) -> Board` (the fit, the anchor and the CIs are documented there)
- `board`   text table, HTML page with an SVG plot, `arena_page(store)` for `GET /arena`
- `cli`     `easel arena board [--json] [--category C]`

The board's imports (numpy, scipy) stay out of this package root: import the modules.
"""
