"""Text normalisation that undoes cheap filter evasion before any rule or model looks at it.

Each step targets one trick people use to slip words past a filter: styled or full-width
Unicode letters (NFKC), invisible and blank-looking characters and right-to-left overrides
(`safety.invisible`), look-alike letters from other scripts and small capitals
(`safety.confusables`, from Unicode's confusables data), leetspeak, letters spaced or
punctuated apart ("n.u.d.e"), and stretched letters ("nuuuude").  Where a step is
ambiguous ("1" may stand for "i" or "l"; "sooo" may be "so" or "soo"; a Braille blank may
be a space or nothing) the alternatives are returned as extra `variants`, so the term
rules can match any of them.  The primary form `text` is what the embedding model reads:
it keeps real words of other scripts as they are.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass

from safety.confusables import map_words
from safety.invisible import readings

# Leetspeak; "1" is ambiguous and handled as two variants.
_LEET: dict[str, str] = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
    "!": "i", "|": "l", "€": "e", "+": "t",
}
_LEET_SYMBOLS = "@$!|€+"
# Tokens such as "4k", "3d", "35mm", "7th" are units and ordinals, not leetspeak.
_UNIT = re.compile(
    r"^\d+(?:st|nd|rd|th|s|k|d|x|p|px|mm|cm|km|m|kg|g|mp|fps|hz|ghz|mb|gb|tb|yo|am|pm|h|hr|"
    r"hrs|min|ft|v|w|mph|l|ml|gen|bit|c|f)$"
)
_TRAILING_DIGITS = re.compile(r"^[^\W\d_]+\d+$")  # "covid19", "area51": names, not leet

_WORDISH = r"[\w@$€]"
# A run of >= 3 single characters separated by spaces or punctuation: "n u d e", "s.e.x".
_SPACED = re.compile(
    rf"(?<![\w@$€]){_WORDISH}(?:[\s.\-_*·•,/|+~'\"]{{1,3}}{_WORDISH}(?![\w@$€])){{2,}}"
)
_SPACED_SEP = re.compile(r"[\s.\-_*·•,/|+~'\"]+")
_INTRA_PUNCT = re.compile(r"(?<=[^\W\d_])[.*_'`’](?=[^\W\d_])")
_INTRA_HYPHEN = re.compile(r"(?<=\w)[-‐‑‒–—](?=\w)")
_LEET_TOKEN = re.compile(r"[\w@$€!|+]+")
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")
_TOKEN = re.compile(r"\w+")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Normalized:
    text: str  # the primary normalised form (fed to the embedding model)
    tokens: list[str]
    variants: tuple[str, ...]  # text first, then alternative readings for ambiguous steps


def _strip_accents(text: str) -> str:
    # Mn/Me are combining marks: accents, and "zalgo" stacks.
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if unicodedata.category(ch) not in ("Mn", "Me")))


def _bases(text: str) -> list[str]:
    """The text as read (see `safety.invisible`), look-alikes mapped, case and accents
    folded: the primary reading first, then the other readings, then the primary with every
    word that could be Latin read as Latin."""
    forms = [map_words(r) for r in readings(text)]
    bases = [primary for primary, _ in forms] + [forms[0][1]]
    return list(dict.fromkeys(_strip_accents(unicodedata.normalize("NFKC", b).casefold()) for b in bases))


def _join_spaced(text: str, keep_article: bool = False) -> str:
    def join(m: re.Match[str]) -> str:
        run = m.group(0)
        # "a n a k e d" is "a" + "naked": with keep_article, a leading one-letter word stays.
        if keep_article and run[0] in "ai" and run[1].isspace():
            rest = run[1:].lstrip()
            if len(_SPACED_SEP.sub("", rest)) >= 3:
                return run[0] + " " + _SPACED_SEP.sub("", rest)
        return _SPACED_SEP.sub("", run)

    return _SPACED.sub(join, text)


def _decode_leet(text: str, one: str, aggressive: bool) -> str:
    """Decode leetspeak tokens.  The conservative pass leaves tokens that are usually names or
    handles ("covid19", "mp3", "@john"); the aggressive pass, used only for match variants,
    decodes those too ("ki11", "@ss")."""

    def fix(m: re.Match[str]) -> str:
        tok = m.group(0)
        core = tok.rstrip("!|+")  # "wow!!" keeps its punctuation meaning
        tail = tok[len(core) :]
        has_letter = any(ch.isalpha() for ch in core)
        has_leet = any(ch.isdigit() or ch in _LEET_SYMBOLS for ch in core)
        if not (has_letter and has_leet) or _UNIT.match(core):
            return tok
        if not aggressive and (_TRAILING_DIGITS.match(core) or core.startswith("@")):
            return tok
        table = dict(_LEET, **{"1": one})
        return "".join(table.get(ch, ch) for ch in core) + tail

    return _LEET_TOKEN.sub(fix, text)


def normalize(text: str) -> Normalized:
    """Normalise `text` for matching and embedding; see the module docstring for the steps."""
    joined: list[str] = []
    for s in _bases(text):
        joined.append(_join_spaced(s))
        joined.append(_join_spaced(s, keep_article=True))
    joined = list(dict.fromkeys(joined))

    leet_forms: list[str] = []
    for form in joined:
        form = _INTRA_HYPHEN.sub(" ", _INTRA_PUNCT.sub("", form))
        leet_forms += [_decode_leet(form, "i", aggressive=False), _decode_leet(form, "i", aggressive=True)]
        if "1" in form:
            leet_forms += [_decode_leet(form, "l", aggressive=False), _decode_leet(form, "l", aggressive=True)]
    forms: list[str] = []
    for form in leet_forms:
        forms.append(_REPEATS.sub(r"\1\1", form))
        forms.append(_REPEATS.sub(r"\1", form))
        forms.append(form)  # as typed, for the rare rule about repeats ("xxx")
    cleaned = [_SPACES.sub(" ", f).strip() for f in forms]
    variants = tuple(dict.fromkeys(cleaned))  # ordered de-duplication
    primary = variants[0]
    return Normalized(text=primary, tokens=_TOKEN.findall(primary), variants=variants)


def normalize_many(texts: list[str]) -> list[Normalized]:
    return [normalize(t) for t in texts]


def all_variants(items: list[Normalized]) -> list[str]:
    return list(itertools.chain.from_iterable(n.variants for n in items))
