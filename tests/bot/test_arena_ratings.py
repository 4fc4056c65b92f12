"""The arena's Bradley–Terry board: recovery, coverage, ties, "both bad", rank, anchor."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bot.arena.model import Battle, BattleState, BattleVotes, Choice, Vote
from bot.arena.ratings import ANCHOR, ELO_PER_NAT, anchored, build_board, ranks
from tests.support.arena_simulate import simulate

TRUE = anchored({"demo-8": 1150, "demo": 1050, "demo-rw": 1000, "demo-4": 950, "demo-2": 850})


def _battle(n: int, a: str, b: str, *choices: Choice, state: BattleState = BattleState.DECIDED,
            category: str = "animal") -> BattleVotes:
    battle = Battle(id=f"b{n}", created=float(n), conversation_id="c", prompt="p",
                    category=category, entry_a=a, entry_b=b, state=state)
    return BattleVotes(battle, tuple(Vote(battle.id, f"u{i}", c, float(n))
                                     for i, c in enumerate(choices)))


def _many(pattern: list[tuple[str, str, Choice]]) -> list[BattleVotes]:
    return [_battle(n, a, b, c) for n, (a, b, c) in enumerate(pattern)]


def test_synthetic_votes_recover_the_true_order():
    battles = simulate(TRUE, 3000, np.random.default_rng(11))
    board = build_board(battles, rounds=300, rng=np.random.default_rng(0))
    assert [r.name for r in board.rows] == sorted(TRUE, key=TRUE.get, reverse=True)
    for r in board.rows:
        assert r.ci_low <= TRUE[r.name] <= r.ci_high, r
        assert abs(r.score - TRUE[r.name]) < 30
    assert [r.rank for r in board.rows] == [1, 2, 3, 4, 5]  # 3000 votes separate them all


def test_intervals_cover_the_true_scores_at_about_the_nominal_rate():
    rng = np.random.default_rng(2024)
    covered = total = 0
    for _ in range(40):
        board = build_board(simulate(TRUE, 300, rng), rounds=400, rng=rng)
        for r in board.rows:
            covered += r.ci_low <= TRUE[r.name] <= r.ci_high
            total += 1
    assert total == 200
    assert 0.85 <= covered / total <= 0.99, covered / total


def test_scores_are_anchored_at_a_mean_of_1000_on_the_elo_scale():
    board = build_board(_many([("x", "y", Choice.A)] * 40 + [("x", "y", Choice.B)] * 10),
                        rounds=50, rng=np.random.default_rng(0))
    scores = {r.name: r.score for r in board.rows}
    assert math.isclose(sum(scores.values()) / 2, ANCHOR, abs_tol=1e-6)
    # 4 wins to 1: the MLE gap is ln 4 natural units, 400·log10(4) ≈ 240.8 Elo points
    # (the ridge shrinks it by about 0.2 points on 50 votes).
    assert scores["x"] - scores["y"] == pytest.approx(400 * math.log10(4), abs=0.5)
    assert ELO_PER_NAT == pytest.approx(400 / math.log(10))


def test_a_tie_counts_as_half_a_win_to_each_side():
    with_ties = _many([("x", "y", Choice.A)] * 3 + [("x", "y", Choice.TIE)] * 2)
    without = _many([("x", "y", Choice.A)] * 4 + [("y", "x", Choice.A)])  # x 4, y 1
    a = build_board(with_ties, rounds=10, rng=np.random.default_rng(0))
    b = build_board(without, rounds=10, rng=np.random.default_rng(0))
    assert [(r.name, round(r.score, 6)) for r in a.rows] == \
        [(r.name, round(r.score, 6)) for r in b.rows]
    x = a.rows[0]
    assert (x.name, x.wins, x.losses, x.ties) == ("x", 3, 0, 2)


def test_both_bad_is_left_out_of_the_fit_but_shown():
    base = [("x", "y", Choice.A)] * 4 + [("x", "y", Choice.B)]
    plain = build_board(_many(base), rounds=10, rng=np.random.default_rng(0))
    with_bad = build_board(_many(base + [("x", "y", Choice.BAD)] * 6 + [("z", "x", Choice.BAD)]),
                           rounds=10, rng=np.random.default_rng(0))
    assert [r.score for r in with_bad.rows] == pytest.approx([r.score for r in plain.rows])
    x = next(r for r in with_bad.rows if r.name == "x")
    assert (x.battles, x.bad) == (12, 7)
    assert with_bad.battles == 12 and with_bad.votes == 12
    assert with_bad.unrated == ("z",)  # only "both bad" votes: nothing to rate it by


def test_void_and_unvoted_battles_are_left_off_the_board():
    battles = _many([("x", "y", Choice.A)] * 3)
    battles.append(_battle(90, "x", "y", Choice.B, Choice.B, state=BattleState.VOID))
    battles.append(_battle(91, "x", "q"))  # shown, nobody voted
    board = build_board(battles, rounds=10, rng=np.random.default_rng(0))
    assert {r.name for r in board.rows} == {"x", "y"}
    assert (board.battles, board.votes, board.void) == (3, 3, 1)
    assert next(r for r in board.rows if r.name == "y").losses == 3


def test_an_entry_that_never_loses_still_gets_a_finite_score():
    board = build_board(_many([("x", "y", Choice.A)] * 10 + [("y", "z", Choice.TIE)] * 3),
                        rounds=200, rng=np.random.default_rng(0))
    for r in board.rows:
        assert all(math.isfinite(v) for v in (r.score, r.ci_low, r.ci_high)), r
        assert r.ci_low <= r.score <= r.ci_high
    assert board.rows[0].name == "x"


def test_rank_is_one_plus_the_entries_whose_interval_lies_wholly_above():
    # a's interval is above b's and c's; b and c overlap; d is below everything.
    assert ranks([1100, 1000, 990, 800], [1200, 1050, 1060, 850]) == [1, 2, 2, 4]
    board = build_board(simulate(TRUE, 400, np.random.default_rng(5)), rounds=300,
                        rng=np.random.default_rng(1))
    for r in board.rows:
        assert r.rank == 1 + sum(o.ci_low > r.ci_high for o in board.rows)


def test_position_bias_is_the_share_of_a_or_b_votes_won_by_the_left_image():
    board = build_board(_many([("x", "y", Choice.A)] * 3 + [("y", "x", Choice.A)]
                              + [("x", "y", Choice.B), ("x", "y", Choice.TIE),
                                 ("x", "y", Choice.BAD)]), rounds=10, rng=np.random.default_rng(0))
    assert (board.left_wins, board.position_votes) == (0.8, 5)
    biased = build_board(simulate(TRUE, 2000, np.random.default_rng(3), left_bias=1.0),
                         rounds=10, rng=np.random.default_rng(0))
    assert biased.left_wins is not None and biased.left_wins > 0.65


def test_a_seeded_board_is_reproducible_and_categories_filter():
    battles = simulate(TRUE, 300, np.random.default_rng(8), category="animal") + \
        simulate({"p": 1000, "q": 1000}, 50, np.random.default_rng(9), category="landscape")
    one = build_board(battles, category="animal", rounds=200, rng=np.random.default_rng(4))
    two = build_board(battles, category="animal", rounds=200, rng=np.random.default_rng(4))
    assert one == two
    assert {r.name for r in one.rows} == set(TRUE) and one.category == "animal"


def test_json_has_the_required_fields_per_entry():
    board = build_board(simulate(TRUE, 300, np.random.default_rng(1)), rounds=100,
                        rng=np.random.default_rng(0))
    data = board.to_json()
    assert len(data["entries"]) == 5
    for e in data["entries"]:
        assert {"name", "score", "ci_low", "ci_high", "rank", "battles"} <= set(e)
        assert e["ci_low"] <= e["score"] <= e["ci_high"]
    assert 0 <= data["position_bias"]["left_wins"] <= 1


def test_an_empty_board_has_no_rows():
    board = build_board([], rounds=10)
    assert board.rows == () and board.left_wins is None and board.to_json()["entries"] == []
