"""Curated term rules: the fast, explainable first layer of the text classifier.

Rules live in data files (`safety/data/terms/*.txt`, syntax in the README there) so they can
be reviewed and extended without touching code.  Matching runs on every normalised variant
of the text, on word boundaries, and ignores a hit that lies inside an allow-listed phrase
("naked mole rat", "chicken breast", "Scunthorpe").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from safety.normalize import Normalized, normalize
from safety.policy import Category
from safety.term_index import IndexedTerms, words_of

DATA_DIR = Path(__file__).resolve().parent / "data"

# Chinese, Japanese and Korean do not separate words with spaces (and Korean glues
# particles onto nouns), so terms in those scripts match as substrings.
_NO_SPACE_SCRIPT = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
# "12 yo", "12 y/o", "a 9 year old", "14 years old" — under 18 only.
_MINOR_AGE = re.compile(
    r"(?<!\w)(?:[1-9]|1[0-7])\s*(?:yo|y/o|yrs? old|years? old|year olds|ans|anos|jahre alt|"
    r"jahrige\w*|anni|лет|歳|岁)(?!\w)"
)

Span = tuple[int, int]


def category_file(category: Category) -> str:
    return category.value.replace("/", "_").replace("-", "_") + ".txt"


def read_rule_file(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def term_pattern(term: str, macros: Mapping[str, str] | None = None) -> str | None:
    """Translate one rule line (without a leading `!`) into a regular expression."""
    if term.startswith("re:"):
        pattern = term[3:]
        for name, alternatives in (macros or {}).items():
            pattern = pattern.replace("{" + name + "}", alternatives)
        return pattern
    words: list[str] = []
    for raw in term.split():
        # Normalise each word on its own so a trailing "*" (stem) survives normalisation.
        norm = normalize(raw.rstrip("*")).text
        if norm:
            parts = [re.escape(w) for w in norm.split()]
            words += parts[:-1] + [parts[-1] + (r"\w*" if raw.endswith("*") else "")]
    if not words:
        return None
    pattern = r"\s+".join(words)
    if _NO_SPACE_SCRIPT.search(term):
        return pattern
    return rf"(?<!\w){pattern}(?!\w)"


def term_first_word(term: str) -> tuple[str, bool, bool] | None:
    """For the word index: a plain term's first word as `term_pattern` writes it, whether
    a `\\w*` follows that word, and whether the term matches as a substring (CJK)."""
    if term.startswith("re:"):
        return None
    words: list[tuple[str, bool]] = []
    for raw in term.split():
        norm = normalize(raw.rstrip("*")).text
        if norm:
            parts = norm.split()
            words += [(p, False) for p in parts[:-1]] + [(parts[-1], raw.endswith("*"))]
    if not words:
        return None
    return words[0][0], words[0][1], bool(_NO_SPACE_SCRIPT.search(term))


def index_terms(terms: Iterable[str], macros: Mapping[str, str] | None = None) -> IndexedTerms:
    return IndexedTerms(terms, compile_terms, term_first_word, macros, _NO_SPACE_SCRIPT)


def compile_terms(terms: Iterable[str], macros: Mapping[str, str] | None = None) -> re.Pattern[str]:
    patterns = [p for p in (term_pattern(t, macros) for t in terms) if p]
    if not patterns:
        return re.compile(r"(?!x)x")  # matches nothing
    return re.compile("|".join(f"(?:{p})" for p in patterns))


def _inside(span: Span, spans: list[Span]) -> bool:
    return any(start <= span[0] and span[1] <= end for start, end in spans)


def _first_hit(rx: IndexedTerms, text: str, excluded: list[Span], tokens: frozenset[str]) -> str | None:
    for m in rx.finditer(text, tokens):
        if m.end() > m.start() and not _inside(m.span(), excluded):
            return m.group(0)
    return None


@dataclass(slots=True)
class RuleResult:
    hits: dict[Category, str] = field(default_factory=dict)  # category -> matched text
    minor: str | None = None  # a word or age that makes someone a minor
    suggestive: str | None = None  # a suggestive (not explicit) term

    @property
    def sexual_minors(self) -> bool:
        sexualised = Category.SEXUAL in self.hits or self.suggestive is not None
        return Category.SEXUAL_MINORS in self.hits or (self.minor is not None and sexualised)


@dataclass(slots=True)
class _CategoryRules:
    terms: IndexedTerms
    exclusions: IndexedTerms | None


class TermRules:
    """Word-boundary term matching per category, with allow-list and minors combination."""

    def __init__(
        self,
        terms: Mapping[Category, Iterable[str]],
        allow: Iterable[str] = (),
        minors: Iterable[str] = (),
        suggestive: Iterable[str] = (),
        groups: Iterable[str] = (),
    ) -> None:
        minors = list(minors)
        macros = {
            "GROUP": "(?:" + "|".join(p for p in (term_pattern(g) for g in groups) if p) + ")",
            "MINOR": "(?:" + "|".join(p for p in (term_pattern(m) for m in minors) if p) + ")",
        }
        self._rules: dict[Category, _CategoryRules] = {}
        for category, lines in terms.items():
            lines = list(lines)
            keep = [t for t in lines if not t.startswith("!")]
            excl = [t[1:] for t in lines if t.startswith("!")]
            self._rules[category] = _CategoryRules(
                index_terms(keep, macros), index_terms(excl) if excl else None
            )
        self._allow = index_terms(allow)
        self._minors = index_terms(minors)
        self._suggestive = index_terms(suggestive)

    @classmethod
    def from_dir(cls, data_dir: Path = DATA_DIR) -> TermRules:
        terms_dir = data_dir / "terms"
        terms = {
            c: read_rule_file(terms_dir / category_file(c))
            for c in Category
            if (terms_dir / category_file(c)).exists()
        }
        return cls(
            terms,
            allow=read_rule_file(data_dir / "allow.txt"),
            minors=read_rule_file(terms_dir / "minors.txt"),
            suggestive=read_rule_file(terms_dir / "suggestive.txt"),
            groups=read_rule_file(terms_dir / "groups.txt"),
        )

    @property
    def fingerprint(self) -> str:
        """Every compiled pattern, for cache versions: changes when any rule file does."""
        parts = [self._allow.full.pattern, self._minors.full.pattern, self._suggestive.full.pattern]
        for category, rules in sorted(self._rules.items()):
            parts += [category.value, rules.terms.full.pattern,
                      rules.exclusions.full.pattern if rules.exclusions else ""]
        return "\n".join(parts)

    def scan(self, norm: Normalized) -> RuleResult:
        result = RuleResult()
        for variant in norm.variants:
            tokens = words_of(variant)  # shared by every category's word index
            allowed = [m.span() for m in self._allow.finditer(variant, tokens)]
            for category, rules in self._rules.items():
                if category in result.hits:
                    continue
                excluded = allowed
                if rules.exclusions is not None:
                    excluded = allowed + [m.span() for m in rules.exclusions.finditer(variant, tokens)]
                hit = _first_hit(rules.terms, variant, excluded, tokens)
                if hit is not None:
                    result.hits[category] = hit
            if result.minor is None:
                result.minor = _first_hit(self._minors, variant, allowed, tokens)
                if result.minor is None and (age := _MINOR_AGE.search(variant)):
                    result.minor = age.group(0)
            if result.suggestive is None:
                result.suggestive = _first_hit(self._suggestive, variant, allowed, tokens)
        return result

    def mask_allowed(self, text: str) -> str:
        """`text` (normalised) with allow-listed and excluded phrases blanked out, so the
        embedding model does not score "nude lipstick" or "suicide squad" on their words."""
        tokens = words_of(text)
        spans = [m.span() for m in self._allow.finditer(text, tokens)]
        for rules in self._rules.values():
            if rules.exclusions is not None:
                spans += [m.span() for m in rules.exclusions.finditer(text, tokens)]
        for start, end in sorted(spans, reverse=True):
            text = text[:start] + " " + text[end:]
        return " ".join(text.split())

    def scan_text(self, text: str) -> RuleResult:
        return self.scan(normalize(text))
