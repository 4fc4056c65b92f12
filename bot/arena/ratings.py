"""The leaderboard: Bradley–Terry scores with bootstrap confidence intervals.

The model. Entry i has a log-strength θ_i and beats j with probability σ(θ_i − θ_j)
(σ the logistic function). We fit θ by maximum likelihood over the votes, where
- "A is better" / "B is better" is a win for that side's entry;
- "tie" counts as half a win to each side (so ties pull two entries together);
- "both bad" is EXCLUDED from the fit: it says both images failed, not which was better,
  and counting it as a tie would drag the best entry towards whatever it was paired with.
  It is still shown (per-entry `bad` count, and in `battles`);
- void battles, and battles nobody voted on, are left out entirely.

Fitting. The likelihood is concave in θ and fixed only up to a common shift; an entry that
never lost (or never won) pushes its MLE to ±∞. A tiny ridge, λ/2·Σθ² with λ = 0.01 (a
N(0, 10²) prior on natural-log strengths) keeps every estimate finite and the optimum
unique. Its pull is negligible with real data: it shrinks a 4:1 gap (241 points) by about
1.5 points on 5 votes and 0.2 points on 50. We solve
it with damped Newton steps, batched over bootstrap rounds (a few K×K solves per step).

The scale and anchor. Scores are Elo points: 1000 + (400 / ln 10)·θ, so a 400-point gap
means 10:1 odds. Because the ridge's optimum has Σθ = 0 (the likelihood's gradient sums to
zero), the anchor is: the MEAN SCORE OF THE RATED ENTRIES IS 1000 (equivalently their
geometric-mean strength is the reference). Each bootstrap round is anchored the same way.

Uncertainty. 95 % percentile intervals from `rounds` (1000) bootstrap resamples of
battles (a battle's votes stay together, since one prompt's pair of images is one unit of
evidence). Rank = 1 + the number of entries whose lower bound is above this entry's upper
bound, so entries with overlapping intervals share a rank.

Position bias: among votes for A or B (no ties, no "both bad"), the fraction won by the left
(A) image. Sides are randomised per battle, so a bias adds noise but not a tilt to scores.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from scipy.special import expit

from bot.arena.model import BattleState, BattleVotes, Choice

log = logging.getLogger(__name__)

__all__ = ["ANCHOR", "ELO_PER_NAT", "Board", "BoardRow", "anchored", "build_board", "ranks"]

ANCHOR = 1000.0
ELO_PER_NAT = 400.0 / math.log(10.0)  # Elo points per unit of natural-log strength
DEFAULT_RIDGE = 0.01
_MAX_STEP = 2.0  # largest Newton step (natural-log units) per iteration: keeps it stable
_MAX_ITER = 100
_TOL = 1e-9
_CELLS_PER_CHUNK = 2_000_000  # bootstrap rounds × battles held in memory at once
_COUNTS = ("battles", "wins", "losses", "ties", "bad")  # per-entry tallies, as in BoardRow


@dataclass(frozen=True)
class BoardRow:
    name: str
    score: float
    ci_low: float
    ci_high: float
    rank: int
    battles: int  # counted battles this entry was in ("both bad" ones included)
    wins: int
    losses: int
    ties: int
    bad: int


@dataclass(frozen=True)
class Board:
    rows: tuple[BoardRow, ...]  # best score first
    category: str | None
    battles: int  # counted battles: not void, at least one vote
    votes: int
    void: int  # void battles, left off the board
    left_wins: float | None  # position bias: share of A-or-B votes won by the left image
    position_votes: int  # how many votes that share is over
    rounds: int
    unrated: tuple[str, ...] = ()  # entries with only "both bad" votes: nothing to fit

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category, "battles": self.battles, "votes": self.votes,
            "void": self.void, "bootstrap_rounds": self.rounds,
            "anchor": "mean score of the rated entries = 1000 (Elo scale)",
            "position_bias": {"left_wins": None if self.left_wins is None
                              else round(self.left_wins, 4), "votes": self.position_votes},
            "entries": [{"name": r.name, "score": round(r.score, 1),
                         "ci_low": round(r.ci_low, 1), "ci_high": round(r.ci_high, 1),
                         "rank": r.rank, "battles": r.battles, "wins": r.wins,
                         "losses": r.losses, "ties": r.ties, "bad": r.bad}
                        for r in self.rows],
            "unrated": list(self.unrated),
        }


def anchored(scores: dict[str, float]) -> dict[str, float]:
    """Shift Elo-scale scores so that their mean is the anchor (how true strengths are put
    on the board's scale for comparison)."""
    mean = sum(scores.values()) / len(scores)
    return {k: v - mean + ANCHOR for k, v in scores.items()}


def _laplacian_maps(pi: np.ndarray, pj: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """G (P×K): θ @ G.T gives θ_i − θ_j per pair. L (P×K²): h @ L is Σ_p h_p·(e_i−e_j)(e_i−e_j)ᵀ,
    the negative Hessian of the log-likelihood given per-pair curvatures h."""
    p = len(pi)
    g = np.zeros((p, k))
    g[np.arange(p), pi] = 1.0
    g[np.arange(p), pj] = -1.0
    lap = np.einsum("pa,pb->pab", g, g).reshape(p, k * k)
    return g, lap


def _fit(w_ij: np.ndarray, w_ji: np.ndarray, g: np.ndarray, lap: np.ndarray,
         ridge: float) -> np.ndarray:
    """Ridge-penalised BT MLE for R datasets at once. w_ij, w_ji: (R, P) wins of each pair's
    first / second entry. Returns θ (R, K), each row mean-zero."""
    r, k = w_ij.shape[0], g.shape[1]
    n = w_ij + w_ji
    theta = np.zeros((r, k))
    eye = np.eye(k) * ridge
    for _ in range(_MAX_ITER):
        s = expit(theta @ g.T)
        grad = (w_ij - n * s) @ g - ridge * theta
        neg_hess = (n * s * (1.0 - s) @ lap).reshape(r, k, k) + eye
        step = np.linalg.solve(neg_hess, grad[..., None])[..., 0]
        size = np.abs(step).max(axis=1, keepdims=True)
        theta += step * np.minimum(1.0, _MAX_STEP / np.maximum(size, 1e-300))
        if float(size.max()) < _TOL:
            break
    else:
        log.warning("arena: Bradley–Terry fit stopped after %d iterations", _MAX_ITER)
    return theta - theta.mean(axis=1, keepdims=True)


def build_board(battles: Iterable[BattleVotes], *, category: str | None = None,
                rounds: int = 1000, rng: np.random.Generator | None = None,
                ridge: float = DEFAULT_RIDGE) -> Board:
    """Fit the board from every battle with its votes (as `ArenaStore.list_battles` gives
    them). Pass a seeded `rng` for a reproducible board (the page and CLI use seed 0)."""
    rng = rng if rng is not None else np.random.default_rng()
    stats: dict[str, dict[str, int]] = {}
    void = votes_total = counted = left = right = 0
    fit_rows: list[tuple[str, str, float, float]] = []  # entry A, entry B, A wins, B wins
    for bv in battles:
        b = bv.battle
        if category is not None and b.category != category:
            continue
        if b.state is BattleState.VOID:
            void += 1
            continue
        if not bv.votes:
            continue
        counted += 1
        votes_total += len(bv.votes)
        sa = stats.setdefault(b.entry_a, dict.fromkeys(_COUNTS, 0))
        sb = stats.setdefault(b.entry_b, dict.fromkeys(_COUNTS, 0))
        sa["battles"] += 1
        sb["battles"] += 1
        wa = wb = 0.0
        for v in bv.votes:
            if v.choice is Choice.A:
                wa, left = wa + 1, left + 1
                sa["wins"], sb["losses"] = sa["wins"] + 1, sb["losses"] + 1
            elif v.choice is Choice.B:
                wb, right = wb + 1, right + 1
                sb["wins"], sa["losses"] = sb["wins"] + 1, sa["losses"] + 1
            elif v.choice is Choice.TIE:
                wa, wb = wa + 0.5, wb + 0.5
                sa["ties"], sb["ties"] = sa["ties"] + 1, sb["ties"] + 1
            else:
                sa["bad"], sb["bad"] = sa["bad"] + 1, sb["bad"] + 1
        if wa + wb > 0:
            fit_rows.append((b.entry_a, b.entry_b, wa, wb))

    names = sorted({n for a, b_, _, _ in fit_rows for n in (a, b_)})
    unrated = tuple(sorted(set(stats) - set(names)))
    position = left + right
    board = functools.partial(Board, category=category, battles=counted, votes=votes_total,
                              void=void, left_wins=left / position if position else None,
                              position_votes=position, rounds=rounds, unrated=unrated)
    if not names:
        return board(rows=())

    index = {n: i for i, n in enumerate(names)}
    k = len(names)
    # Each battle's evidence, keyed by its unordered pair (first index < second).
    pairs: dict[tuple[int, int], int] = {}
    pair_of = np.empty(len(fit_rows), dtype=np.int64)
    w_first = np.empty(len(fit_rows))
    w_second = np.empty(len(fit_rows))
    for row, (a, b_, wa, wb) in enumerate(fit_rows):
        ia, ib = index[a], index[b_]
        key = (ia, ib) if ia < ib else (ib, ia)
        pair_of[row] = pairs.setdefault(key, len(pairs))
        w_first[row], w_second[row] = (wa, wb) if ia < ib else (wb, wa)
    pi = np.array([p[0] for p in pairs], dtype=np.int64)
    pj = np.array([p[1] for p in pairs], dtype=np.int64)
    g, lap = _laplacian_maps(pi, pj, k)
    nb, npairs = len(fit_rows), len(pairs)
    rows_idx = np.arange(nb)
    to_first = sparse.csr_matrix((w_first, (rows_idx, pair_of)), shape=(nb, npairs))
    to_second = sparse.csr_matrix((w_second, (rows_idx, pair_of)), shape=(nb, npairs))

    ones = np.ones((1, nb))
    theta = _fit(np.asarray((to_first.T @ ones.T).T), np.asarray((to_second.T @ ones.T).T),
                 g, lap, ridge)[0]
    boot = np.empty((rounds, k))
    chunk = max(1, _CELLS_PER_CHUNK // nb)
    for start in range(0, rounds, chunk):
        r = min(chunk, rounds - start)
        # Resample battles with replacement: how often each battle is drawn, per round.
        draws = rng.integers(0, nb, size=(r, nb)) + (np.arange(r) * nb)[:, None]
        counts = np.bincount(draws.ravel(), minlength=r * nb).reshape(r, nb).astype(float)
        w_ij = np.asarray((to_first.T @ counts.T).T)
        w_ji = np.asarray((to_second.T @ counts.T).T)
        boot[start:start + r] = _fit(w_ij, w_ji, g, lap, ridge)

    scores = ANCHOR + ELO_PER_NAT * theta
    low, high = ANCHOR + ELO_PER_NAT * np.percentile(boot, [2.5, 97.5], axis=0)
    rank = ranks(low, high)
    rows = tuple(BoardRow(
        name=names[i], score=float(scores[i]), ci_low=float(low[i]), ci_high=float(high[i]),
        rank=rank[i], **stats[names[i]]) for i in np.argsort(-scores, kind="stable"))
    return board(rows=rows)


def ranks(ci_low: Iterable[float], ci_high: Iterable[float]) -> list[int]:
    """Rank = 1 + the number of entries whose lower bound is above this entry's upper bound
    (ties share a rank; the next distinct rank skips, as in sports tables)."""
    low, high = np.asarray(list(ci_low), dtype=float), np.asarray(list(ci_high), dtype=float)
    return [1 + int(np.sum(low > h)) for h in high]
