"""Which picture a follow-up means, and how far an edit may move it."""

from __future__ import annotations

import pytest

from bot.pipeline.picks import RECOLOUR_STRENGTH, edit_strength, take_pick


@pytest.mark.parametrize(("text", "index", "rest"), [
    ("the second one, at night", 2, "at night"),
    ("#3 make it darker", 3, "make it darker"),
    ("make it red", None, "make it red"),
])
def test_take_pick(text, index, rest):
    assert take_pick(text) == (index, rest)


@pytest.mark.parametrize("text", ["make it red", "now make it blue", "turn the car crimson",
                                  "paint it navy blue", "change it to green", "red"])
def test_a_new_colour_gets_the_recolour_strength(text):
    assert edit_strength(text) == RECOLOUR_STRENGTH


def test_edits_move_the_picture_in_order_of_how_much_they_change():
    light, colour = edit_strength("make it darker"), edit_strength("make it red")
    objects, medium = edit_strength("add a red hat"), edit_strength("in watercolour")
    # Light keeps the most; a new colour needs more freedom than a new object, or the old
    # colour survives, yet less than 0.8, where the layout would be lost.
    assert light < objects < medium and light < colour < 0.8
    assert edit_strength("make it red and add a hat") == objects
