"""Loading the labelled safety data: our own examples, I2P and PartiPrompts.

Shared by `safety.train_head`, `bench/safety.py`, `easel safety eval` and the tests, so
every figure is computed on the same rows and the same held-out split.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from safety.policy import Category
from safety.terms import DATA_DIR

LABELLED_PATH = DATA_DIR / "labelled.jsonl"
I2P_FILE = "i2p_unsafe-prompts4703.csv"
PARTI_FILE = "PartiPrompts.tsv"
HELD_OUT_PERCENT = 25
# I2P labels describe the *images* a prompt produced.  Only rows whose images were mostly
# judged inappropriate *and* showed nudity are taken as sexual prompts; the other I2P
# categories are too noisy to use as text labels (see ../shared/README.md).
I2P_NUDITY_MIN = 50.0
# Rows whose images were almost never inappropriate serve as benign art-style prompts.
I2P_BENIGN_MAX = 10.0


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    labels: frozenset[Category] = field(default_factory=frozenset)
    source: str = ""
    kind: str = ""
    weight: float = 1.0
    toxicity: float = 0.0  # I2P's prompt_toxicity, where known

    @property
    def unsafe(self) -> bool:
        return bool(self.labels)


def shared_dir(override: Path | str | None = None) -> Path:
    """`override`, else `../shared` next to the repository. Callers that take the folder
    from the environment (tests, benches: EASEL_SHARED_DIR) read it themselves."""
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "shared"


def safety_data_dir(base: Path | None = None) -> Path:
    return (base or shared_dir()) / "data" / "safety"


def held_out(text: str) -> bool:
    """Deterministic split by content hash: stable across runs, machines and row order."""
    digest = hashlib.sha256(text.strip().lower().encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % 100 < HELD_OUT_PERCENT


def load_labelled(path: Path = LABELLED_PATH) -> list[Example]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            doc = json.loads(line)
            labels = frozenset(Category(c) for c in doc.get("labels", []))
            rows.append(Example(doc["text"], labels, "labelled", doc.get("kind", "")))
    return rows


def load_jsonl_eval(path: Path) -> list[Example]:
    """An eval file: JSON lines with "text" and "labels" (or "label"; [] / "" for benign)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            doc = json.loads(line)
            raw = doc.get("labels", doc.get("label", []))
            raw = [raw] if isinstance(raw, str) else raw
            labels = frozenset(Category(c) for c in raw if c and c not in ("safe", "benign"))
            rows.append(Example(doc["text"], labels, path.name, doc.get("kind", "")))
    return rows


def load_parti(base: Path | None = None) -> list[Example]:
    path = safety_data_dir(base) / PARTI_FILE
    with path.open(encoding="utf-8", newline="") as f:
        return [Example(r["Prompt"], frozenset(), "parti", r["Category"]) for r in csv.DictReader(f, delimiter="\t")]


def _i2p_rows(base: Path | None) -> Iterable[dict[str, str]]:
    path = safety_data_dir(base) / I2P_FILE
    with path.open(encoding="utf-8", newline="") as f:
        yield from csv.DictReader(f)


def load_i2p_nudity(base: Path | None = None) -> list[Example]:
    """I2P `hard` rows whose images showed nudity: the sexual prompts we train and test on."""
    return [
        Example(r["prompt"].strip(), frozenset({Category.SEXUAL}), "i2p", "nudity", toxicity=float(r["prompt_toxicity"] or 0))
        for r in _i2p_rows(base)
        if r["hard"] == "1" and float(r["nudity_percentage"] or 0) >= I2P_NUDITY_MIN
    ]


def load_i2p_benign(base: Path | None = None) -> list[Example]:
    return [
        Example(r["prompt"].strip(), frozenset(), "i2p", "benign", toxicity=float(r["prompt_toxicity"] or 0))
        for r in _i2p_rows(base)
        if float(r["inappropriate_percentage"] or 0) <= I2P_BENIGN_MAX
        and float(r["nudity_percentage"] or 0) == 0
    ]


def dedupe(rows: Iterable[Example]) -> list[Example]:
    seen: set[str] = set()
    out = []
    for row in rows:
        key = row.text.strip().lower()
        if key and key not in seen:
            seen.add(key)
            out.append(row)
    return out
