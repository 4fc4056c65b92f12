"""The word index in front of the term rules finds exactly what the full patterns find."""

from __future__ import annotations

from safety import datasets
from safety.normalize import normalize
from safety.synthetic import benign_prompts
from safety.term_index import IndexedTerms, words_of
from safety.terms import DATA_DIR, TermRules, compile_terms, index_terms

TRICKY = [
    "a n a k e d girl", "Scunthorpe United", "naked mole rat", "suicide squad poster",
    "killer whale", "nudes", "n.u.d.e", "恋人のヌード写真", "белый медведь", "kill all the jews",
    "decapitated zombie", "a naked 9 year old", "1 am going to kill you", "",
]


def texts(shared_dir=None) -> list[str]:
    rows = [r.text for r in datasets.load_labelled()] + benign_prompts(200, 2) + TRICKY
    blind = DATA_DIR / "eval_blind.jsonl"
    if blind.exists():
        rows += [r.text for r in datasets.load_jsonl_eval(blind)]
    if shared_dir is not None:
        rows += [r.text for r in datasets.load_parti(shared_dir)]
        rows += [r.text for r in datasets.load_i2p_nudity(shared_dir)]
    return rows


def _scan_both(rules: TermRules, monkeypatch, items: list[str]):
    norms = [normalize(t) for t in items]
    fast = [rules.scan(n) for n in norms]
    fast_masks = [rules.mask_allowed(n.text) for n in norms]
    monkeypatch.setattr(IndexedTerms, "pattern_for", lambda self, text, tokens: self.full)
    full = [rules.scan(n) for n in norms]
    full_masks = [rules.mask_allowed(n.text) for n in norms]
    return fast, full, fast_masks, full_masks


def test_same_hits_as_the_full_patterns(rules, monkeypatch) -> None:
    fast, full, fast_masks, full_masks = _scan_both(rules, monkeypatch, texts())
    assert fast == full and fast_masks == full_masks
    assert sum(bool(r.hits) for r in fast) > 300  # the labelled violations do hit


def test_same_hits_on_the_benchmark_prompts(rules, monkeypatch, shared_data) -> None:
    fast, full, _, _ = _scan_both(rules, monkeypatch, texts(shared_data))
    assert fast == full


def test_only_candidate_terms_and_regex_rules_run() -> None:
    ix = index_terms(["nude", "strip*", "naked woman", "re:\\bxxx+\\b", "ヌード"])
    tokens = words_of("a stripper and a nudist")
    assert ix.candidates("a stripper and a nudist", tokens) == [1]  # strip* only: not "nude"
    assert ix.pattern_for("a calm lake", words_of("a calm lake")) is ix.rest
    cjk = normalize("ヌード写真").text  # terms match normalised text (accents stripped)
    assert ix.pattern_for(cjk, words_of(cjk)).search(cjk)
    same = compile_terms(["nude", "strip*", "naked woman", "re:\\bxxx+\\b", "ヌード"])
    for text in ["a nude", "naked woman", "naked", "xxxx", "stripes", cjk, "nudes"]:
        got = [m.span() for m in ix.finditer(text)]
        assert got == [m.span() for m in same.finditer(text)], text
