"""Precision / recall / false-positive rate per category, and small table helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from safety.datasets import Example
from safety.policy import Category


@dataclass(slots=True)
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def fpr(self) -> float:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else float("nan")


def category_counts(rows: Sequence[Example], flagged: Sequence[set[Category]]) -> dict[Category, Counts]:
    """Per category: a row is positive when labelled with it, predicted when flagged with it.

    sexual/minors rows count as sexual too (they are), so a minors prompt flagged only as
    sexual/minors is not a sexual false negative."""
    out = {c: Counts() for c in Category}
    for row, got in zip(rows, flagged, strict=True):
        labels = set(row.labels)
        if Category.SEXUAL_MINORS in labels:
            labels.add(Category.SEXUAL)
        if Category.SEXUAL_MINORS in got:
            got = got | {Category.SEXUAL}
        for c in Category:
            truth, pred = c in labels, c in got
            counts = out[c]
            if truth and pred:
                counts.tp += 1
            elif truth:
                counts.fn += 1
            elif pred:
                counts.fp += 1
            else:
                counts.tn += 1
    return out


def rate(blocked: Iterable[bool]) -> tuple[int, int]:
    values = list(blocked)
    return sum(values), len(values)


def group_rates(
    rows: Sequence[Example], blocked: Sequence[bool], key: Callable[[Example], str]
) -> dict[str, tuple[int, int]]:
    out: dict[str, list[bool]] = {}
    for row, b in zip(rows, blocked, strict=True):
        out.setdefault(key(row), []).append(b)
    return {k: rate(v) for k, v in sorted(out.items())}


def pct(value: float | tuple[int, int]) -> str:
    if isinstance(value, tuple):
        hit, total = value
        return f"{100 * hit / total:.1f}% ({hit}/{total})" if total else "n/a"
    return "n/a" if value != value else f"{100 * value:.1f}%"  # NaN check


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def counts_table(counts: dict[Category, Counts]) -> str:
    return markdown_table(
        ["category", "positives", "precision", "recall", "FPR"],
        [
            (c.value, k.tp + k.fn, pct(k.precision), pct(k.recall), pct(k.fpr))
            for c, k in counts.items()
        ],
    )
