"""Latin look-alikes from Unicode's confusables data (UTS #39), for the text gate.

The data is `confusables.txt` as shipped in the `confusable_homoglyphs` package: pairs of a
character and the prototype it is confused with ("ս" and "u", "ɢ" and "ɡ"...).  The pairs
form small groups (one prototype and its look-alikes); a character whose group holds an
ASCII letter or digit reads as that one.  Two additions the data does not make itself:

- the prototype of "н" or "в" is a small capital (ʜ, ʙ), and small capitals are letters in
  their own right in UTS #39, so "LATIN LETTER SMALL CAPITAL X" (by its Unicode name) reads
  as "x";
- case picks the reading where a group holds both (Greek "Ι" is "I", Cyrillic "ӏ" is "l"),
  since the glyph of a capital looks like a capital.

Which words get rewritten is decided per word (`map_words`): a real Russian, Greek or
Armenian word must stay as it is, or the term rules and the English-only embedding model
would read Latin garbage ("сосна" is not "cocha").
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import regex

_SMALL_CAPITAL = re.compile(r"LATIN LETTER SMALL CAPITAL ([A-Z])$")
_LATIN = regex.compile(r"\p{Script=Latin}")
_LRM = "\u200e"  # the data's comments wrap right-to-left prototypes in these


def _plain(s: str) -> str:
    """`s` without marks or compatibility forms: "o̸" is "o"."""
    decomposed = unicodedata.normalize("NFKD", s.replace(_LRM, ""))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _small_capital(ch: str) -> str | None:
    m = _SMALL_CAPITAL.match(unicodedata.name(ch, ""))
    return m.group(1).lower() if m else None


def _groups() -> dict[str, set[str]]:
    """Each character (or prototype string) of the data -> its whole look-alike group."""
    data: dict[str, list[dict[str, str]]] = json.loads(
        files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8")
    )
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for key, entries in data.items():
        for entry in entries:
            parent[find(key)] = find(entry["c"])
    groups: dict[str, set[str]] = {}
    for key in parent:
        groups.setdefault(find(key), set()).add(key)
    return {key: groups[find(key)] for key in parent}


def _reading(ch: str, group: set[str]) -> str | None:
    singles = [m for m in group if len(m) == 1 and m.isascii() and m.isalnum()]
    upper = sorted(m for m in singles if m.isupper())
    lower = sorted(m for m in singles if m.islower())
    digits = sorted(m for m in singles if m.isdigit())
    capitals = sorted(c for m in group if len(m) == 1 and (c := _small_capital(m)))
    plain = sorted((p for m in group if (p := _plain(m)).isascii() and p.isalnum()), key=len)
    order = (upper, lower, capitals, digits, plain) if ch.isupper() else (lower, capitals, upper, digits, plain)
    for candidates in order:
        if candidates:
            return candidates[0].lower()
    return None


@cache
def latin_readings() -> dict[str, str]:
    """Non-ASCII character -> the lower-case ASCII it passes for (built once, ~0.2 s)."""
    table: dict[str, str] = {}
    for key, group in _groups().items():
        if len(key) == 1 and not key.isascii() and not unicodedata.combining(key) and not key.isspace():
            if (reading := _reading(key, group)) is not None:
                table[key] = reading
    for cp in range(0x80, 0x10000):  # small capitals the data leaves out ("ᴀ")
        if (letter := _small_capital(chr(cp))) is not None:
            table[chr(cp)] = letter
    return table


@cache
def reading_of(ch: str) -> str | None:
    """The ASCII that `ch` (not ASCII itself) passes for, or None.

    A compatibility form that NFKC turns into ASCII reads as that ("ｎ", "𝐧", "ſ" are n, n,
    s); otherwise the confusables data decides, before NFKC, which would make Greek "ϲ"
    (it looks like c) a sigma; last, the character under its accents ("ё" is "e")."""
    compat = unicodedata.normalize("NFKC", ch)
    if compat != ch and compat.isascii() and compat.isalnum():
        return compat.lower()
    table = latin_readings()
    if ch in table:
        return table[ch]
    base = _plain(ch)
    return table.get(base) if len(base) == 1 and base != ch else None


@cache
def is_latin(ch: str) -> bool:
    """Latin script, judged on the NFKC form ("𝐧" is Latin, "ϲ" is Greek)."""
    compat = unicodedata.normalize("NFKC", ch)[:1] or ch
    return compat.isascii() or _LATIN.match(compat) is not None


@dataclass(frozen=True, slots=True)
class _Word:
    start: int
    end: int
    latin: int  # letters in the Latin script
    other: int  # letters of other scripts with no Latin reading
    twins: int  # letters of other scripts that read as Latin ("ѕ", "օ")
    mappable: bool  # anything non-ASCII to rewrite at all


def _words(text: str) -> list[_Word]:
    out: list[_Word] = []
    start, latin, other, twins, mappable = -1, 0, 0, 0, False
    for i, ch in enumerate([*text, " "]):
        reading = reading_of(ch) if not ch.isascii() else None
        wordish = ch.isalnum() or ch == "_" or unicodedata.combining(ch) or reading is not None
        if not wordish:
            if start >= 0:
                out.append(_Word(start, i, latin, other, twins, mappable))
            start, latin, other, twins, mappable = -1, 0, 0, 0, False
            continue
        start = i if start < 0 else start
        mappable = mappable or reading is not None
        if ch.isalpha():
            if is_latin(ch):
                latin += 1
            elif reading is not None:
                twins += 1
            else:
                other += 1
    return out


def _rewrite(text: str, word: _Word) -> str:
    return "".join(reading_of(ch) or ch if not ch.isascii() else ch for ch in text[word.start : word.end])


def map_words(text: str) -> tuple[str, str]:
    """(`text` with look-alikes read as Latin where the word is meant as Latin, `text` with
    every word that *could* be Latin read so).

    A word is meant as Latin when it has Latin letters and no letter that has no Latin
    twin ("nudе", "ѕeх", "ɴᴜᴅᴇ").  A word made only of twins ("ѕех", "сосна") is Latin only
    in Latin company: when most of the text's letters are Latin, or when the whole text is
    such words.  The second form reads every twins-only word as Latin, for the term rules
    to try as well (a Russian term and the same word in a Russian sentence still meet)."""
    if text.isascii():
        return text, text
    words = [w for w in _words(text) if w.mappable]
    if not words:
        return text, text
    latin_words = [w for w in words if w.other == 0 and w.latin > 0]
    twin_words = [w for w in words if w.other == 0 and w.latin == 0 and w.twins > 0]
    letters = sum(ch.isalpha() for ch in text)
    latin_letters = sum(is_latin(ch) for ch in text if ch.isalpha()) + sum(w.twins for w in latin_words)
    twin_letters = sum(w.twins for w in twin_words)
    in_latin_company = latin_letters * 2 > letters or twin_letters == letters
    primary = [*latin_words, *(twin_words if in_latin_company else [])]
    return _apply(text, primary), _apply(text, [*latin_words, *twin_words])


def _apply(text: str, words: list[_Word]) -> str:
    out, last = [], 0
    for w in sorted(words, key=lambda w: w.start):
        out += [text[last : w.start], _rewrite(text, w)]
        last = w.end
    return "".join([*out, text[last:]])
