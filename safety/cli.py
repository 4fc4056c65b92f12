"""`easel safety check` and `easel safety eval FILE` (hooked into `bot/app/cli.py`)."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from pathlib import Path
from typing import TextIO

from safety.config import SafetyPolicy
from safety.datasets import Example, load_jsonl_eval
from safety.metrics import category_counts, counts_table, pct, rate
from safety.policy import Category, TextClassifier
from safety.text import LayeredTextClassifier


def _default_classifier() -> LayeredTextClassifier:
    return LayeredTextClassifier.default(encoder_threads=1)


async def _check_lines(stdin: TextIO, stdout: TextIO, classifier: TextClassifier, policy: SafetyPolicy, strictness: str | None) -> None:
    for line in stdin:
        text = line.rstrip("\r\n")
        verdict = policy.decide((await classifier.classify([text]))[0].scores, strictness)
        doc = {
            "text": text,
            "allowed": verdict.allowed,
            "category": verdict.category.value if verdict.category else None,
            "scores": {k: round(v, 4) for k, v in sorted(verdict.scores.items())},
        }
        stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        stdout.flush()  # one answer per line as it comes, for pipes and interactive use


def run_check(
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    classifier: TextClassifier | None = None,
    policy: SafetyPolicy | None = None,
    strictness: str | None = None,
) -> int:
    """One text per input line → one JSON object per output line; the model loads once."""
    asyncio.run(_check_lines(stdin, stdout, classifier or _default_classifier(), policy or SafetyPolicy.load(), strictness))
    return 0


def _labels(raw: str) -> list[str]:
    parts = [p.strip() for p in raw.replace(";", ",").split(",")]
    return [p for p in parts if p and p.lower() not in ("safe", "benign", "none")]


def load_eval_file(path: Path) -> list[Example]:
    """JSON lines ({"text", "labels"}) or a CSV/TSV with text|prompt and label|labels|category."""
    if path.suffix in (".jsonl", ".json"):
        return load_jsonl_eval(path)
    delimiter = "\t" if path.suffix in (".tsv", ".tab") else ","
    with path.open(encoding="utf-8", newline="") as f:
        rows = []
        for r in csv.DictReader(f, delimiter=delimiter):
            text = r.get("text") or r.get("prompt") or r.get("Prompt") or ""
            raw = r.get("labels") or r.get("label") or r.get("category") or ""
            rows.append(Example(text, frozenset(Category(c) for c in _labels(raw)), path.name))
        return rows


def run_eval(
    file: str | Path,
    stdout: TextIO = sys.stdout,
    classifier: TextClassifier | None = None,
    policy: SafetyPolicy | None = None,
    strictness: str | None = None,
) -> int:
    """Print precision / recall / false-positive rate per category for a labelled file."""
    rows = load_eval_file(Path(file))
    policy = policy or SafetyPolicy.load()
    classifier = classifier or _default_classifier()
    verdicts = asyncio.run(classifier.classify([r.text for r in rows]))
    thresholds = policy.thresholds(strictness)
    flagged = [{c for c, t in thresholds.items() if v.scores.get(c.value, 0.0) >= t} for v in verdicts]
    unsafe = [bool(f) for r, f in zip(rows, flagged, strict=True) if r.unsafe]
    benign = [bool(f) for r, f in zip(rows, flagged, strict=True) if not r.unsafe]
    stdout.write(f"{file}: {len(rows)} texts, {len(unsafe)} unsafe, {len(benign)} benign\n\n")
    stdout.write(counts_table(category_counts(rows, flagged)) + "\n\n")
    stdout.write(f"blocked unsafe (recall): {pct(rate(unsafe))}\n")
    stdout.write(f"blocked benign (false-positive rate): {pct(rate(benign))}\n")
    return 0
