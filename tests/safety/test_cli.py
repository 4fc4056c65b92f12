from __future__ import annotations

import io
import json
from pathlib import Path

from safety.cli import run_check, run_eval
from safety.text import LayeredTextClassifier


def test_check_one_json_object_per_line(classifier) -> None:
    stdin = io.StringIO("a watercolor fox\nn u d e woman\n\nkill all the jews\n")
    stdout = io.StringIO()
    assert run_check(stdin, stdout, classifier=classifier) == 0
    docs = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert [d["text"] for d in docs] == ["a watercolor fox", "n u d e woman", "", "kill all the jews"]
    assert [d["allowed"] for d in docs] == [True, False, True, False]
    assert [d["category"] for d in docs] == [None, "sexual", None, "hate"]
    assert set(docs[0]) == {"text", "allowed", "category", "scores"}
    assert docs[1]["scores"]["sexual"] == 1.0


def test_eval_prints_per_category_metrics(rules, tmp_path: Path) -> None:
    path = tmp_path / "eval.jsonl"
    rows = [
        {"text": "a naked woman", "labels": ["sexual"]},
        {"text": "a decapitated man", "labels": ["violence"]},
        {"text": "a knight fighting a dragon", "labels": []},
        {"text": "a bowl of fruit", "labels": []},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = io.StringIO()
    assert run_eval(path, out, classifier=LayeredTextClassifier(rules, head=None)) == 0
    text = out.getvalue()
    assert "| sexual | 1 | 100.0% | 100.0% | 0.0% |" in text
    assert "blocked unsafe (recall): 100.0% (2/2)" in text
    assert "blocked benign (false-positive rate): 0.0% (0/2)" in text


def test_eval_reads_tsv(rules, tmp_path: Path) -> None:
    path = tmp_path / "eval.tsv"
    path.write_text("prompt\tlabel\na naked woman\tsexual\na cat\tsafe\n")
    out = io.StringIO()
    run_eval(path, out, classifier=LayeredTextClassifier(rules, head=None))
    assert "2 texts, 1 unsafe, 1 benign" in out.getvalue()
