"""The board, rendered: a monospace table for chat and the CLI, and the `GET /arena` page.

The page is one server-rendered HTML document: the table plus an inline SVG of scores with
their 95 % whiskers. No script, no external assets (a Teams tab or an air-gapped server
shows it as is), colours from CSS custom properties so it follows light and dark mode.
Every name and category is escaped: entry names come from the engines file, categories
from the query string.
"""

from __future__ import annotations

import asyncio
import html
import logging
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

import numpy as np
from aiohttp import web

from bot.arena.model import BattleState, BattleVotes
from bot.arena.ratings import ANCHOR, Board, build_board

if TYPE_CHECKING:
    from bot.arena.store import ArenaStore

log = logging.getLogger(__name__)

__all__ = ["arena_page", "board_html", "board_svg", "board_text"]

_NAME_WIDTH = 18
_MAX_CATEGORY = 64
_CACHE_SIZE = 16


def _clip(name: str, width: int = _NAME_WIDTH) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def _summary(board: Board) -> str:
    what = f"category {board.category}" if board.category else "all prompts"
    parts = [what, f"{board.battles} battles", f"{board.votes} votes"]
    if board.left_wins is not None:
        parts.append(f"left image wins {board.left_wins:.0%} of {board.position_votes}")
    return " · ".join(parts)


def board_text(board: Board, *, limit: int | None = None) -> str:
    """A short fixed-width table (wrap it in a code block in chat), best first."""
    if not board.rows:
        return f"Arena board ({_summary(board)}): no votes yet."
    rows = board.rows if limit is None else board.rows[:limit]
    lines = [f"Arena board — {_summary(board)}",
             f"{'#':>2}  {'entry':<{_NAME_WIDTH}}  {'score':>5}  {'95% CI':>11}  {'battles':>7}"]
    for r in rows:
        ci = f"{r.ci_low:.0f}–{r.ci_high:.0f}"
        lines.append(f"{r.rank:>2}  {_clip(r.name):<{_NAME_WIDTH}}  {r.score:>5.0f}  {ci:>11}"
                     f"  {r.battles:>7}")
    if limit is not None and len(board.rows) > limit:
        lines.append(f"… and {len(board.rows) - limit} more")
    lines.append("Scores: Bradley–Terry, Elo scale, mean 1000; 95% bootstrap CIs.")
    return "\n".join(lines)


def _ticks(lo: float, hi: float) -> list[float]:
    span = max(hi - lo, 1.0)
    raw = span / 6
    step = next(s for s in (10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, math.inf)
                if s >= raw)
    if not math.isfinite(step):
        step = 10 ** math.ceil(math.log10(raw))
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) // step) + 1)]


def board_svg(board: Board) -> str:
    """Scores as dots with CI whiskers, one row per entry, and a dashed line at the anchor."""
    if not board.rows:
        return ""
    label_w, plot_w, row_h, top, bottom = 170, 520, 30, 12, 36
    width, height = label_w + plot_w + 24, top + row_h * len(board.rows) + bottom
    lo = min(min(r.ci_low for r in board.rows), ANCHOR)
    hi = max(max(r.ci_high for r in board.rows), ANCHOR)
    pad = max((hi - lo) * 0.05, 5.0)
    lo, hi = lo - pad, hi + pad

    def x(v: float) -> float:
        return label_w + (v - lo) / (hi - lo) * plot_w

    axis_y = top + row_h * len(board.rows)
    parts = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"'
             f' width="{width}" height="{height}" role="img" aria-label="Scores with 95% '
             f'confidence intervals">']
    for t in _ticks(lo, hi):
        parts.append(f'<line class="grid" x1="{x(t):.1f}" y1="{top}" x2="{x(t):.1f}" '
                     f'y2="{axis_y}"/><text class="tick" x="{x(t):.1f}" y="{axis_y + 16}" '
                     f'text-anchor="middle">{t:.0f}</text>')
    parts.append(f'<line class="anchor" x1="{x(ANCHOR):.1f}" y1="{top}" x2="{x(ANCHOR):.1f}" '
                 f'y2="{axis_y}"/>')
    for i, r in enumerate(board.rows):
        y = top + row_h * i + row_h / 2
        name = html.escape(_clip(r.name, 22))
        parts.append(
            f'<g><title>{html.escape(r.name)}: {r.score:.0f} ({r.ci_low:.0f}–{r.ci_high:.0f})'
            f'</title><text class="name" x="{label_w - 10}" y="{y + 4:.1f}" '
            f'text-anchor="end">{name}</text>'
            f'<line class="whisker" x1="{x(r.ci_low):.1f}" y1="{y:.1f}" x2="{x(r.ci_high):.1f}" '
            f'y2="{y:.1f}"/>'
            f'<line class="whisker" x1="{x(r.ci_low):.1f}" y1="{y - 6:.1f}" x2="{x(r.ci_low):.1f}"'
            f' y2="{y + 6:.1f}"/>'
            f'<line class="whisker" x1="{x(r.ci_high):.1f}" y1="{y - 6:.1f}" '
            f'x2="{x(r.ci_high):.1f}" y2="{y + 6:.1f}"/>'
            f'<circle class="dot" cx="{x(r.score):.1f}" cy="{y:.1f}" r="5"/></g>')
    parts.append(f'<text class="tick" x="{label_w + plot_w / 2:.0f}" y="{height - 4}" '
                 f'text-anchor="middle">score (Elo scale; dashed line: mean = 1000)</text></svg>')
    return "".join(parts)


_STYLE = """
:root { color-scheme: light dark; --fg: #1b1b1f; --bg: #ffffff; --muted: #6b6b76;
  --line: #d9d9e0; --accent: #3b5bdb; }
@media (prefers-color-scheme: dark) { :root { --fg: #e8e8ee; --bg: #16161a; --muted: #9a9aa6;
  --line: #34343c; --accent: #8ea2ff; } }
body { font: 15px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg);
  margin: 2rem auto; max-width: 760px; padding: 0 1rem; }
h1 { font-size: 1.4rem; margin-bottom: .2rem; } p.meta, p.note { color: var(--muted); }
nav a { margin-right: .8rem; color: var(--accent); } nav a.on { font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; font-variant-numeric: tabular-nums; }
th, td { padding: .3rem .5rem; border-bottom: 1px solid var(--line); text-align: right; }
th:nth-child(2), td:nth-child(2) { text-align: left; }
svg.plot { max-width: 100%; height: auto; } svg text { fill: var(--fg); font-size: 13px; }
svg .tick { fill: var(--muted); font-size: 11px; } svg .grid { stroke: var(--line); }
svg .anchor { stroke: var(--muted); stroke-dasharray: 4 4; }
svg .whisker { stroke: var(--accent); stroke-width: 2; } svg .dot { fill: var(--accent); }
"""


def board_html(board: Board, categories: list[str] | None = None) -> str:
    """The whole `GET /arena` page."""
    esc = html.escape
    nav = ""
    if categories:
        links = [f'<a href="?"{" class=on" if board.category is None else ""}>all</a>']
        links += [f'<a href="?category={esc(quote(c, safe=""))}"'
                  f'{" class=on" if c == board.category else ""}>{esc(c)}</a>' for c in categories]
        nav = f"<nav>{''.join(links)}</nav>"
    if board.rows:
        body_rows = "".join(
            f"<tr><td>{r.rank}</td><td>{esc(r.name)}</td><td>{r.score:.0f}</td>"
            f"<td>{r.ci_low:.0f} – {r.ci_high:.0f}</td><td>{r.battles}</td>"
            f"<td>{r.wins} / {r.losses} / {r.ties}</td><td>{r.bad}</td></tr>" for r in board.rows)
        table = ("<table><thead><tr><th>Rank</th><th>Entry</th><th>Score</th><th>95% CI</th>"
                 "<th>Battles</th><th>W / L / T</th><th>Both bad</th></tr></thead>"
                 f"<tbody>{body_rows}</tbody></table>{board_svg(board)}")
    else:
        table = "<p>No votes yet: start a battle in chat with <code>/arena &lt;prompt&gt;</code>.</p>"
    unrated = (f"<p class=note>Not rated yet (only “both bad” votes): "
               f"{esc(', '.join(board.unrated))}.</p>" if board.unrated else "")
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>easel arena</title><style>{_STYLE}</style></head><body>"
        f"<h1>easel arena</h1><p class=meta>{esc(_summary(board))}"
        f"{f' · {board.void} void' if board.void else ''}</p>{nav}{table}{unrated}"
        "<p class=note>Blind side-by-side votes fitted with Bradley–Terry by maximum "
        "likelihood; a tie is half a win to each side, “both bad” is left out of the fit. "
        "Scores are on the Elo scale with the mean entry at 1000; whiskers are 95% intervals "
        f"from {board.rounds} bootstrap resamples of battles. Rank = 1 + the number of entries "
        "whose interval lies wholly above this one's.</p></body></html>")


Handler = Callable[[web.Request], Awaitable[web.Response]]


def arena_page(store: ArenaStore, *, rounds: int = 1000, seed: int = 0) -> Handler:
    """The `GET /arena[?category=C]` handler. The fit runs in a worker thread (it is CPU
    work) with a fixed seed, so a refresh shows the same intervals; boards are cached per
    (category, battles, votes, void) so a busy page does not refit unchanged data."""
    cache: dict[tuple[object, ...], Board] = {}

    async def handler(request: web.Request) -> web.Response:
        category = request.query.get("category", "").strip()[:_MAX_CATEGORY] or None
        everything: list[BattleVotes] = await store.list_battles()
        categories = sorted({bv.battle.category for bv in everything})
        chosen = [bv for bv in everything if category is None or bv.battle.category == category]
        key = (category, len(chosen), sum(len(bv.votes) for bv in chosen),
               sum(bv.battle.state is BattleState.VOID for bv in chosen))
        board = cache.get(key)
        if board is None:
            board = await asyncio.to_thread(build_board, chosen, category=category,
                                            rounds=rounds, rng=np.random.default_rng(seed))
            if len(cache) >= _CACHE_SIZE:
                cache.pop(next(iter(cache)))
            cache[key] = board
        return web.Response(text=board_html(board, categories), content_type="text/html",
                            charset="utf-8", headers={"Cache-Control": "no-cache"})

    return handler
