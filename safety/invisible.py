"""What a reader sees of a text: no invisible characters, right-to-left overrides undone.
The first step of `safety.normalize`.

Invisible means Unicode's Default_Ignorable_Code_Point set (zero-width spaces and joiners,
soft hyphen, bidi controls, variation selectors, Hangul fillers, Mongolian format
controls, tags...), every other format control (Cf) and control character, and the
code points that draw nothing though they are neither: the Braille blank and the musical
null notehead, used as "empty" names and to split words.  They are removed; where one sat
between two letters a second reading has a space there instead ("nude⠀woman").

Spaces other than U+0020, tab and newline (no-break, thin, hair, ideographic, line
separator...) read as a space; where one sits inside a word a second reading drops it
("nu\u200ade").

A right-to-left override (U+202E) shows the letters after it in reverse: "‮edun" looks
like "nude" on screen.  The reading in display order comes first, the typed order second.
"""

from __future__ import annotations

import regex

# Draw nothing, yet are not default-ignorable: Braille pattern blank, musical null notehead.
_BLANK_LOOKING = "\u2800\U0001d159"
_INVISIBLE = regex.compile(rf"[\p{{Default_Ignorable_Code_Point}}\p{{Cf}}{_BLANK_LOOKING}]|(?!\s)\p{{Cc}}")
_INVISIBLE_RUN_IN_WORD = regex.compile(rf"(?<=\w)(?:{_INVISIBLE.pattern})+(?=\w)")
# Any space but the plain ones: no-break, thin, hair, ideographic, line separator...
_ODD_SPACE_IN_WORD = regex.compile(r"(?<=\w)(?:(?![\x20\t\n\r])[\s\p{Zs}])+(?=\w)")

_OPEN_EMBEDDING = "\u202a\u202b\u202d\u202e"  # LRE, RLE, LRO, RLO: closed by PDF
_OPEN_ISOLATE = "\u2066\u2067\u2068"  # LRI, RLI, FSI: closed by PDI
_PDF, _PDI, _RLO = "\u202c", "\u2069", "\u202e"
_PARAGRAPH_END = "\n\r\u2029"


def display_order(text: str) -> str:
    """`text` with each stretch under a right-to-left override reversed, as it is shown.

    A simplified Unicode bidi algorithm: it tracks the embedding stack (X1-X8) only to
    know where an override starts and ends; inside one, letters of any script are laid out
    right to left, so Latin text reads backwards.  The controls themselves are dropped."""
    if _RLO not in text:
        return text
    out: list[str] = []
    run: list[str] = []  # characters under an RLO, in typed order
    stack: list[str] = []
    for ch in text:
        if ch in _OPEN_EMBEDDING or ch in _OPEN_ISOLATE:
            stack.append(ch)
            continue
        if ch == _PDF:
            if stack and stack[-1] in _OPEN_EMBEDDING:
                stack.pop()
            continue
        if ch == _PDI:
            while stack and stack.pop() not in _OPEN_ISOLATE:
                pass
            continue
        if ch in _PARAGRAPH_END:
            stack.clear()
        elif stack and stack[-1] == _RLO:
            run.append(ch)
            continue
        out += reversed(run)
        run.clear()
        out.append(ch)
    out += reversed(run)
    return "".join(out)


def strip_invisible(text: str) -> str:
    return _INVISIBLE.sub("", text)


def readings(text: str) -> list[str]:
    """The ways `text` can be read, likeliest first, each free of invisible characters;
    one entry for ordinary text.  Not yet NFKC-normalised: look-alikes are read first."""
    shown = display_order(text)
    forms = [shown, text]
    if _INVISIBLE_RUN_IN_WORD.search(shown):
        forms.append(_INVISIBLE_RUN_IN_WORD.sub(" ", shown))
    if _ODD_SPACE_IN_WORD.search(shown):
        forms.append(_ODD_SPACE_IN_WORD.sub("", shown))
    return list(dict.fromkeys(strip_invisible(f) for f in forms))
