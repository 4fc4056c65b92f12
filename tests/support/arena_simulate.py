"""Synthetic arena votes from known strengths: for the tests and bench/arena.py.

The vote model matches what the board assumes, so that a fitted board can be compared with
the truth:
- a pair of different entries is drawn uniformly, in random left/right order;
- with probability `bad_rate` the vote is "both bad" (independent of the entries);
- otherwise A's expected score is s = σ(θ_A − θ_B + `left_bias`), θ in natural-log units,
  and a tie happens with probability `tie_rate`·4·s·(1 − s) (most often between equals),
  taken evenly from both sides' wins: P(A) = s − t/2, P(tie) = t, P(B) = 1 − s − t/2. So a
  tie is worth half a win in expectation, exactly as the fit counts it.
With sides randomised, a small `left_bias` b shifts the pair's expected score only to
second order (σ(d + b) + σ(d − b) ≈ 2σ(d) + σ''(d)·b²).
"""

from __future__ import annotations

import numpy as np

from bot.arena.model import Battle, BattleState, BattleVotes, Choice, Vote
from bot.arena.ratings import ELO_PER_NAT

__all__ = ["simulate"]


def simulate(true_scores: dict[str, float], n_votes: int, rng: np.random.Generator, *,
             tie_rate: float = 0.15, bad_rate: float = 0.05, left_bias: float = 0.15,
             category: str = "sim") -> list[BattleVotes]:
    """`n_votes` battles with one vote each, from true Elo-scale scores."""
    if not 0 <= tie_rate <= 0.5:
        raise ValueError("tie_rate must be within 0..0.5 (so P(win) stays >= 0)")
    names = list(true_scores)
    theta = np.array([true_scores[n] for n in names]) / ELO_PER_NAT
    k = len(names)
    first = rng.integers(0, k, size=n_votes)
    second = (first + rng.integers(1, k, size=n_votes)) % k  # always a different entry
    s = 1.0 / (1.0 + np.exp(-(theta[first] - theta[second] + left_bias)))
    tie_p = tie_rate * 4.0 * s * (1.0 - s)
    u = rng.random(n_votes)
    bad = rng.random(n_votes) < bad_rate
    out: list[BattleVotes] = []
    for n in range(n_votes):
        if bad[n]:
            choice = Choice.BAD
        elif u[n] < s[n] - tie_p[n] / 2:
            choice = Choice.A
        elif u[n] < s[n] + tie_p[n] / 2:
            choice = Choice.TIE
        else:
            choice = Choice.B
        battle = Battle(id=f"sim{n}", created=float(n), conversation_id="sim", prompt="",
                        category=category, entry_a=names[first[n]], entry_b=names[second[n]],
                        state=BattleState.DECIDED)
        out.append(BattleVotes(battle, (Vote(battle.id, f"user{n}", choice, float(n)),)))
    return out
