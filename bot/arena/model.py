"""Arena records: a battle (two hidden entries, one prompt) and the votes cast on it.

Plain frozen dataclasses with a JSON-friendly `to_dict` / `from_dict`, so the memory/JSONL
store and the Redis store write the same shapes and the records survive a restart.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

__all__ = ["Battle", "BattleState", "BattleVotes", "Choice", "Side", "Vote", "new_battle_id"]

# 9 random bytes -> 12 url-safe characters (72 bits: unguessable enough that nobody votes
# on a battle they were not shown). Discord's custom_id allows 100 characters, so the
# id fits with any short prefix, e.g. "arena:vote:a:<id>".
_ID_BYTES = 9
MAX_ID_LEN = 16


def new_battle_id() -> str:
    return secrets.token_urlsafe(_ID_BYTES)


class Side(StrEnum):
    A = "a"  # the left image
    B = "b"  # the right image


class Choice(StrEnum):
    A = "a"  # A is better
    B = "b"  # B is better
    TIE = "tie"  # about the same
    BAD = "bad"  # both bad: excluded from the fit (see bot/arena/ratings.py)

    @classmethod
    def parse(cls, text: str) -> Choice | None:
        """A typed `/vote` argument or a button value -> a choice; None when unrecognised."""
        word = " ".join(text.strip().lower().replace("_", " ").replace("-", " ").split())
        return _ALIASES.get(word)


_ALIASES: dict[str, Choice] = {
    "a": Choice.A, "left": Choice.A, "a is better": Choice.A,
    "b": Choice.B, "right": Choice.B, "b is better": Choice.B,
    "tie": Choice.TIE, "draw": Choice.TIE, "same": Choice.TIE,
    "bad": Choice.BAD, "both bad": Choice.BAD, "neither": Choice.BAD,
}


class BattleState(StrEnum):
    OPEN = "open"  # shown, no vote yet
    DECIDED = "decided"  # at least one vote; other users may still vote (once each)
    VOID = "void"  # e.g. the gate withheld an image: refuses votes, left off the board


@dataclass(frozen=True)
class Battle:
    id: str
    created: float  # Unix time, seconds
    conversation_id: str
    prompt: str  # the user's prompt, the same for both entries
    category: str  # cheap prompt category (the rules brain's subject kind), for per-category boards
    entry_a: str  # entry names, hidden from voters until they vote
    entry_b: str
    images_a: tuple[str, ...] = ()  # image-store ids per side
    images_b: tuple[str, ...] = ()
    state: BattleState = BattleState.OPEN
    void_reason: str | None = None
    # The prompts each entry actually ran, when rewriting is what is being compared.
    prompt_a: str | None = None
    prompt_b: str | None = None

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > MAX_ID_LEN:
            raise ValueError(f"battle id must be 1..{MAX_ID_LEN} characters: {self.id!r}")
        if self.entry_a == self.entry_b:
            raise ValueError(f"a battle needs two different entries, got {self.entry_a!r} twice")

    @classmethod
    def new(cls, *, conversation_id: str, prompt: str, category: str, entry_a: str,
            entry_b: str, images_a: tuple[str, ...] | list[str] = (),
            images_b: tuple[str, ...] | list[str] = (), prompt_a: str | None = None,
            prompt_b: str | None = None, now: float | None = None) -> Battle:
        """A fresh open battle with a new id. The caller has already randomised the sides."""
        return cls(id=new_battle_id(), created=time.time() if now is None else now,
                   conversation_id=conversation_id, prompt=prompt, category=category,
                   entry_a=entry_a, entry_b=entry_b, images_a=tuple(images_a),
                   images_b=tuple(images_b), prompt_a=prompt_a, prompt_b=prompt_b)

    def entry(self, side: Side | Choice) -> str:
        """The entry name shown on a side (for the reveal after a vote)."""
        if side in (Side.A, Choice.A):
            return self.entry_a
        if side in (Side.B, Choice.B):
            return self.entry_b
        raise ValueError(f"{side!r} is not a side")

    def voided(self, reason: str) -> Battle:
        return replace(self, state=BattleState.VOID, void_reason=reason)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "created": self.created, "conversation_id": self.conversation_id,
                "prompt": self.prompt, "category": self.category, "entry_a": self.entry_a,
                "entry_b": self.entry_b, "images_a": list(self.images_a),
                "images_b": list(self.images_b), "state": self.state.value,
                "void_reason": self.void_reason, "prompt_a": self.prompt_a,
                "prompt_b": self.prompt_b}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Battle:
        return cls(id=str(d["id"]), created=float(d["created"]),
                   conversation_id=str(d["conversation_id"]), prompt=str(d["prompt"]),
                   category=str(d["category"]), entry_a=str(d["entry_a"]),
                   entry_b=str(d["entry_b"]), images_a=tuple(d.get("images_a") or ()),
                   images_b=tuple(d.get("images_b") or ()),
                   state=BattleState(d.get("state", BattleState.OPEN)),
                   void_reason=d.get("void_reason"), prompt_a=d.get("prompt_a"),
                   prompt_b=d.get("prompt_b"))


@dataclass(frozen=True)
class Vote:
    battle_id: str
    user_id: str
    choice: Choice
    time: float  # Unix time, seconds

    def to_dict(self) -> dict[str, Any]:
        return {"battle_id": self.battle_id, "user_id": self.user_id,
                "choice": self.choice.value, "time": self.time}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Vote:
        return cls(battle_id=str(d["battle_id"]), user_id=str(d["user_id"]),
                   choice=Choice(d["choice"]), time=float(d["time"]))


@dataclass(frozen=True)
class BattleVotes:
    """One battle with every vote cast on it: the unit the board's bootstrap resamples."""

    battle: Battle
    votes: tuple[Vote, ...] = field(default=())
