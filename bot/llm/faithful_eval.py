"""Scoring rewrites against labelled requests (bench/data/rewrite_faithfulness.jsonl).

Each row is a request with the attributes it states, labelled by hand in English words:
subject, colour, count, time, weather, medium, setting, position. A rewrite retains an
attribute when all its words appear in the prompt, and contradicts it when a clause of the
prompt clashes with it (the same rules as the run-time check, applied to the labels, not
to the request text, so the score does not depend on reading the request right).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bot.llm import faithful
from bot.llm import rules_prompt as rp

EVAL_PATH = Path(__file__).resolve().parents[2] / "bench" / "data" / "rewrite_faithfulness.jsonl"
_PHRASE = {"setting": "on a {}", "position": "at the {}"}


@dataclass(frozen=True, slots=True)
class Row:
    text: str
    lang: str
    attributes: dict[str, list[str]]


@dataclass(slots=True)
class Score:
    attributes: int = 0
    retained: int = 0
    contradictions: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def retention(self) -> float:
        return self.retained / self.attributes if self.attributes else 1.0

    def add(self, other: Score) -> None:
        self.attributes += other.attributes
        self.retained += other.retained
        self.contradictions += other.contradictions
        self.failures.extend(other.failures)


def load(path: Path = EVAL_PATH) -> list[Row]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            doc = json.loads(line)
            rows.append(Row(doc["text"], doc["lang"], doc["attributes"]))
    return rows


def score(row: Row, prompt: str) -> Score:
    have = {_norm(w) for w in rp.words(prompt)}
    out = Score()
    for kind, values in row.attributes.items():
        out.attributes += 1
        numbers = [d for v in values for d in v.split() if d.isdigit()]
        if all(_norm(v) in have for value in values for v in rp.words(value)) and all(
                d in prompt.split() or _NUMBER_WORDS.get(d, "") in have for d in numbers):
            out.retained += 1
        else:
            out.failures.append(f"{row.text!r}: lost {kind} {' '.join(values)} in {prompt!r}")
    labels = faithful.Stated.read(" ".join(
        _PHRASE.get(kind, "{}").format(" ".join(values))
        for kind, values in row.attributes.items()))
    # The request's own words are the user's, not additions (English rows; others are
    # labelled in English, so their glossed subject counts by its labels).
    user_words = {_norm(w) for w in rp.words(row.text)} if row.lang == "en" else set()
    user_words |= {_norm(w) for v in row.attributes.values() for x in v for w in rp.words(x)}
    for clause in prompt.rstrip(".").split(","):
        why = faithful.contradiction(labels, clause)
        if why and not {_norm(w) for w in rp.words(clause)} <= user_words | _FUNCTION:
            out.contradictions += 1
            out.failures.append(f"{row.text!r}: {why} in {clause.strip()!r}")
    return out


_FUNCTION = frozenset("a an the of in on at under with and".split())
_NUMBER_WORDS = {digit: word for word, digit in faithful.NUMBER_WORDS.items() if " " not in word}


def _norm(word: str) -> str:
    return faithful.norm(word)
