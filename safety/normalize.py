"""Text normalisation that undoes cheap filter evasion before any rule or model looks at it.

Each step targets one trick people use to slip words past a filter: full-width or styled
Unicode letters, zero-width characters, Cyrillic/Greek look-alikes, leetspeak, letters
spaced or punctuated apart ("n.u.d.e"), and stretched letters ("nuuuude").  Where a step is
ambiguous ("1" may stand for "i" or "l"; "sooo" may be "so" or "soo") the alternatives are
returned as extra `variants`, so the term rules can match any of them.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from dataclasses import dataclass

# Look-alikes by *glyph*, upper and lower case kept apart: Greek capital eta looks like "H"
# but its lower case looks like "n", so mapping after case-folding would get it wrong.
_CONFUSABLES: dict[str, str] = {
    # Cyrillic
    "А": "a", "В": "b", "Е": "e", "Ё": "e", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p",
    "С": "c", "Т": "t", "У": "y", "Х": "x", "Ѕ": "s", "І": "i", "Ї": "i", "Ј": "j", "Ԁ": "d",
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
    "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ү": "y", "ѵ": "v",
    # Greek
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n",
    "Ο": "o", "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "μ": "u", "ς": "s",
    # Latin oddities that NFKC leaves alone
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɡ": "g", "ʀ": "r", "ɴ": "n", "ʏ": "y", "ᴀ": "a", "ᴇ": "e",
    "ᴏ": "o", "ᴜ": "u", "ß": "ss", "ø": "o", "Ø": "o", "đ": "d", "ł": "l", "Ł": "l", "æ": "ae",
}

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


def _is_invisible(ch: str) -> bool:
    # Cf covers zero-width space/joiners, soft hyphen, BOM, bidi marks; Mn/Me are combining
    # marks (accents, "zalgo" stacks) which we drop after decomposition anyway.
    return unicodedata.category(ch) in ("Cf", "Mn", "Me", "Cc") and ch not in "\n\t"


def _map_confusables(text: str) -> str:
    def fix(m: re.Match[str]) -> str:
        word = m.group(0)
        if not any(ch in _CONFUSABLES for ch in word):
            return word
        # Only rewrite words that are *entirely* Latin-looking; a real Russian or Greek word
        # has letters with no Latin twin and is left as it is.
        if all(ch.isascii() or ch in _CONFUSABLES for ch in word):
            return "".join(_CONFUSABLES.get(ch, ch) for ch in word)
        return word

    return _TOKEN.sub(fix, text)


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not _is_invisible(ch)))


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
    s = unicodedata.normalize("NFKC", text)
    s = "".join(ch for ch in s if not (_is_invisible(ch) and unicodedata.category(ch) != "Mn"))
    s = _map_confusables(s)
    s = _strip_accents(s.casefold())
    s = _map_confusables(s)  # decomposition can expose more look-alikes
    joined = [_join_spaced(s)]
    if (with_article := _join_spaced(s, keep_article=True)) != joined[0]:
        joined.append(with_article)

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
