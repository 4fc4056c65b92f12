"""Obfuscated copies of a prompt: the look-alike and blank-character tricks the text gate
must see through.  `bench/safety.py` measures the gate's recall on the project's own
violations run through each technique; the tests use a few.

The look-alikes come from Unicode's confusables data (via `safety.confusables`), which is
also where anyone building such a prompt would take them from.  Every technique is seeded,
so a run always measures the same texts.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable
from functools import cache

import regex

from safety.confusables import latin_readings, reading_of

Technique = Callable[[str, random.Random], str]

ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad"
HANGUL_FILLERS = "\u3164\u115f\u1160\uffa0"
BRAILLE_BLANK = "\u2800"
# Other default-ignorables: variation selectors, combining grapheme joiner, Mongolian free
# variation selectors and vowel separator, invisible plus, a tag letter.
OTHER_IGNORABLES = "\ufe00\ufe0f\u034f\u180b\u180e\u2064\U000e0061"
RLO, PDF = "\u202e", "\u202c"


@cache
def look_alikes(script: str) -> dict[str, tuple[str, ...]]:
    """ASCII letter -> the letters of `script` (a Unicode script name) that pass for it,
    capitals for capitals ("a" -> ("а", "ɑ"...) for Cyrillic)."""
    in_script = regex.compile(rf"\p{{Script={script}}}")
    out: dict[str, list[str]] = {}
    for ch in latin_readings():
        reading = reading_of(ch) or ""
        if len(reading) == 1 and reading.isalpha() and ch.isalpha() and in_script.match(ch):
            key = reading.upper() if ch.isupper() else reading
            out.setdefault(key, []).append(ch)
    return {k: tuple(sorted(v)) for k, v in out.items()}


def _swap(text: str, rng: random.Random, table: dict[str, tuple[str, ...]], share: float) -> str:
    """Each letter that has a look-alike is swapped with probability `share`; at least one."""
    spots = [i for i, ch in enumerate(text) if ch in table]
    if not spots:
        return text
    chosen = {i for i in spots if rng.random() < share} or {rng.choice(spots)}
    return "".join(rng.choice(table[ch]) if i in chosen else ch for i, ch in enumerate(text))


def homoglyphs(script: str, share: float = 0.6) -> Technique:
    return lambda text, rng: _swap(text, rng, look_alikes(script), share)


def _small_capitals(text: str, rng: random.Random) -> str:
    table = {reading: ch for ch, reading in latin_readings().items()
             if unicodedata.name(ch, "").startswith("LATIN LETTER SMALL CAPITAL ") and len(reading) == 1}
    return "".join(table.get(ch, ch) for ch in text)


def _fullwidth(text: str, rng: random.Random) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def _insert(chars: str) -> Technique:
    """One of `chars` between letters of each word of 3+ letters (about half the gaps)."""

    def insert(text: str, rng: random.Random) -> str:
        def word(m: regex.Match[str]) -> str:
            w = m.group(0)
            gaps = [i for i in range(1, len(w)) if rng.random() < 0.5] or [len(w) // 2]
            return "".join(rng.choice(chars) + ch if i in gaps else ch for i, ch in enumerate(w))

        return regex.sub(r"\w{3,}", word, text)

    return insert


def _rtl_override(text: str, rng: random.Random) -> str:
    """The whole text typed backwards after a right-to-left override: it shows as written."""
    return RLO + text[::-1] + PDF


def _rtl_words(text: str, rng: random.Random) -> str:
    return regex.sub(r"\w{3,}", lambda m: RLO + m.group(0)[::-1] + PDF, text)


def _combined(text: str, rng: random.Random) -> str:
    script = rng.choice(["Cyrillic", "Greek", "Armenian"])
    return _insert(ZERO_WIDTH + HANGUL_FILLERS + BRAILLE_BLANK)(homoglyphs(script, 0.4)(text, rng), rng)


TECHNIQUES: dict[str, Technique] = {
    "Cyrillic look-alikes": homoglyphs("Cyrillic"),
    "Greek look-alikes": homoglyphs("Greek"),
    "Armenian look-alikes": homoglyphs("Armenian"),
    "Cherokee look-alikes": homoglyphs("Cherokee"),
    "Latin look-alikes (ɑ, ı, ɡ...)": homoglyphs("Latin"),
    "small capitals": _small_capitals,
    "full-width letters": _fullwidth,
    "zero-width characters in words": _insert(ZERO_WIDTH),
    "Hangul fillers in words": _insert(HANGUL_FILLERS),
    "Braille blanks in words": _insert(BRAILLE_BLANK),
    "other default-ignorables in words": _insert(OTHER_IGNORABLES),
    "right-to-left override (whole text)": _rtl_override,
    "right-to-left override (each word)": _rtl_words,
    "look-alikes + blanks combined": _combined,
}


def obfuscate(texts: list[str], technique: str, seed: int = 0) -> list[str]:
    rng = random.Random(f"{technique}:{seed}")
    return [TECHNIQUES[technique](t, rng) for t in texts]
