"""Whose pictures an action touches: shared by the studio and the replies about its jobs,
so neither has to import the other."""

from __future__ import annotations

from dataclasses import dataclass

from bot.turn import Turn


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose pictures an action touches: the turn, the conversation record it keeps, the
    user's index entry (for /forget) and the gate strictness that applies to them."""

    turn: Turn
    key: str
    user_key: str
    strictness: str | None = None
