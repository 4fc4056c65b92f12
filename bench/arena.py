"""Arena board benchmark: simulated votes from known strengths, the fitted board next to the
truth, and how often the 95 % intervals cover the true scores.

Votes follow tests/support/arena_simulate.py: uniform random pairs in random left/right order, some
"both bad" votes (left out of the fit), ties (half a win each, in expectation exactly as the
fit counts them) and a small preference for the left image. True scores are on the board's
scale: Elo points, anchored so that their mean is 1000.

Usage: python -m bench.arena [--votes 400] [--datasets 200] [--rounds 1000] [--seed 1]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from bot.arena.board import board_text
from bot.arena.ratings import anchored, build_board
from tests.support.arena_simulate import simulate

TRUE = {"demo-8": 1120.0, "demo-rewrite": 1060.0, "demo": 1000.0, "demo-4": 950.0,
        "demo-2": 870.0}


def _expected_left_share(true: dict[str, float], *, tie_rate: float, bad_rate: float,
                         left_bias: float) -> float:
    """What the simulation's left edge should show: P(A) / P(A or B), averaged over the
    uniformly drawn ordered pairs ("both bad" is independent of the pair, so it drops out)."""
    theta = np.array(list(true.values())) / (400 / math.log(10))
    i, j = np.where(~np.eye(len(theta), dtype=bool))
    s = 1 / (1 + np.exp(-(theta[i] - theta[j] + left_bias)))
    tie = tie_rate * 4 * s * (1 - s)
    return float(np.mean(s - tie / 2) / np.mean(1 - tie))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--votes", type=int, default=400)
    ap.add_argument("--datasets", type=int, default=200, help="replicates for the coverage check")
    ap.add_argument("--rounds", type=int, default=1000, help="bootstrap rounds per board")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tie-rate", type=float, default=0.15)
    ap.add_argument("--bad-rate", type=float, default=0.05)
    ap.add_argument("--left-bias", type=float, default=0.15, help="logit of the left-side edge")
    args = ap.parse_args()
    true = anchored(TRUE)
    sim = dict(tie_rate=args.tie_rate, bad_rate=args.bad_rate, left_bias=args.left_bias)
    rng = np.random.default_rng(args.seed)

    # 1. One board from `votes` simulated votes, next to the truth.
    battles = simulate(true, args.votes, rng, **sim)
    t0 = time.perf_counter()
    board = build_board(battles, rounds=args.rounds, rng=np.random.default_rng(0))
    fit_s = time.perf_counter() - t0
    print(f"Simulated {args.votes} votes over {len(true)} entries (tie rate {args.tie_rate}, "
          f"both-bad {args.bad_rate}, left-side logit bias {args.left_bias}); "
          f"{args.rounds} bootstrap rounds, fit {fit_s * 1000:.0f} ms.\n")
    print(board_text(board))
    print()
    print(f"{'rank':>4}  {'entry':<13} {'true':>6} {'score':>7} {'95% CI':>15} {'error':>6} "
          f"{'covered':>7} {'battles':>7} {'W':>4} {'L':>4} {'T':>4} {'bad':>4}")
    for r in board.rows:
        inside = r.ci_low <= true[r.name] <= r.ci_high
        print(f"{r.rank:>4}  {r.name:<13} {true[r.name]:>6.0f} {r.score:>7.1f} "
              f"{f'{r.ci_low:.1f}–{r.ci_high:.1f}':>15} {r.score - true[r.name]:>+6.1f} "
              f"{'yes' if inside else 'NO':>7} {r.battles:>7} {r.wins:>4} {r.losses:>4} "
              f"{r.ties:>4} {r.bad:>4}")
    expected_left = _expected_left_share(true, **sim)
    print(f"\nposition bias: left image won {board.left_wins:.1%} of {board.position_votes} "
          f"A-or-B votes (the simulation's expected share: {expected_left:.1%})")
    true_order = sorted(true, key=true.get, reverse=True)
    print(f"order recovered: {[r.name for r in board.rows] == true_order}")

    # 2. Coverage: how often each entry's interval contains its true score.
    covered = {n: 0 for n in true}
    widths: dict[str, list[float]] = {n: [] for n in true}
    errors: dict[str, list[float]] = {n: [] for n in true}
    order_ok = 0
    left_shares = []
    t0 = time.perf_counter()
    for _ in range(args.datasets):
        b = build_board(simulate(true, args.votes, rng, **sim), rounds=args.rounds, rng=rng)
        order_ok += [r.name for r in b.rows] == true_order
        left_shares.append(b.left_wins)
        for r in b.rows:
            covered[r.name] += r.ci_low <= true[r.name] <= r.ci_high
            widths[r.name].append(r.ci_high - r.ci_low)
            errors[r.name].append(r.score - true[r.name])
    per_fit = (time.perf_counter() - t0) / args.datasets
    n = args.datasets
    print(f"\nCoverage of the 95% intervals over {n} simulated datasets of {args.votes} votes "
          f"({per_fit * 1000:.0f} ms per board):")
    print(f"  {'entry':<13} {'true':>6} {'covered':>8} {'±95% MC':>8} {'mean CI width':>14} "
          f"{'mean error':>10} {'RMS error':>9}")
    for name in true_order:
        c = covered[name] / n
        print(f"  {name:<13} {true[name]:>6.0f} {c:>8.1%} {1.96 * math.sqrt(c * (1 - c) / n):>8.1%}"
              f" {np.mean(widths[name]):>14.1f} {np.mean(errors[name]):>+10.1f}"
              f" {math.sqrt(np.mean(np.square(errors[name]))):>9.1f}")
    total = sum(covered.values()) / (n * len(true))
    print(f"  {'all':<13} {'':>6} {total:>8.1%} "
          f"{1.96 * math.sqrt(total * (1 - total) / (n * len(true))):>8.1%}")
    print(f"  exact true order recovered in {order_ok / n:.0%} of datasets")
    print(f"  left image's share of A-or-B votes: mean {np.mean(left_shares):.1%} "
          f"(expected {expected_left:.1%})")

    # 3. Speed at a bigger board (the page and CLI fit on every change).
    big = simulate(true, 4000, np.random.default_rng(args.seed + 1), **sim)
    t0 = time.perf_counter()
    build_board(big, rounds=args.rounds, rng=np.random.default_rng(0))
    print(f"\n4000 battles, {args.rounds} bootstrap rounds: {time.perf_counter() - t0:.2f} s")


if __name__ == "__main__":
    main()
