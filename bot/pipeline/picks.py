"""Which picture a follow-up means, and how strongly an edit should change it.

"the second one, at night" / "#2 make it darker" / "image 3: add a hat" pick an image of
the current generation; the rest of the words are the edit.
"""

from __future__ import annotations

import re

from bot.llm.rules_lexicon import OBJECT_COLOURS

_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3,
             "fourth": 4, "4th": 4, "one": 1, "two": 2, "three": 3, "four": 4}
_ORD = r"first|second|third|fourth|1st|2nd|3rd|4th"
_PICK = re.compile(
    rf"(?:^|\b)(?:"
    rf"#\s*(?P<num>[1-9])\b"
    rf"|(?:the\s+)?(?P<ord>{_ORD})\s+(?:one|image|picture|pic)\b"
    rf"|^(?:the\s+)?(?P<ord2>{_ORD})(?=\s*[,:;.-])"
    rf"|(?:image|picture|pic|number|no\.?)\s*#?\s*(?P<num2>[1-9])\b"
    rf"|(?:the\s+)?last\s+(?P<last>one|image|picture)\b"
    rf")[\s,:;.-]*",
    re.I,
)


def take_pick(text: str) -> tuple[int | None, str]:
    """(1-based image index or -1 for "the last one", the text without the pick)."""
    m = _PICK.search(text)
    if not m:
        return None, text
    num = m.group("num") or m.group("num2")
    ordinal = m.group("ord") or m.group("ord2")
    if num:
        index = int(num)
    elif ordinal:
        index = _ORDINALS[ordinal.lower()]
    else:
        index = -1
    rest = (text[: m.start()] + " " + text[m.end():]).strip(" ,.;:-")
    rest = re.sub(r"^(?:but|and|now|then|just)\s+", "", " ".join(rest.split()), flags=re.I)
    return index, rest


_LIGHT = re.compile(
    r"\b(dark|darker|light|lighter|bright|brighter|dim|dimmer|night|day|daytime|dusk|dawn|"
    r"sunset|sunrise|golden hour|moonlight|warm|warmer|cool|cooler|colou?rs?|colou?rful|"
    r"saturat\w*|vivid|contrast|sepia|black and white|monochrome|red|orange|yellow|green|blue|"
    r"purple|pink|brown|grey|gray|white|black|gold|silver|teal|crimson|navy|fog|foggy|mist)\b",
    re.I)
_OBJECTS = re.compile(r"\b(add|put|place|give|include|insert|remove|without|no more|delete|"
                      r"replace|swap|change the|turn the|with a|with an)\b", re.I)
_STYLE = re.compile(r"\b(in|as|into)\s+(?:an?\s+)?(watercolou?r|oil|painting|sketch|pencil|"
                    r"pixel art|anime|cartoon|comic|3d|render|photo\w*|lego|claymation|"
                    r"impressionis\w*|van gogh|ukiyo-e|style)\b|\bphotorealistic\b|\brealistic\b",
                    re.I)


_COLOUR_NAMES = "|".join(sorted(OBJECT_COLOURS, key=len, reverse=True))
# "make it red", "turn the car crimson", "paint it navy blue", "red": a thing changes colour.
_RECOLOUR = re.compile(
    rf"^(?:(?:now|then|ok|okay|please)[\s,]+)*(?:(?:make|turn|paint|colou?r|change)\s+"
    rf"(?:it|this|that|them|the\s+\w+)\s+(?:to\s+|into\s+)?)?(?:(?:light|dark|bright|pale|deep)\s+)?"
    rf"(?:{_COLOUR_NAMES})(?:\s+(?:{_COLOUR_NAMES}))?(?:\s+instead)?[.!]?$", re.I)
# Recolouring needs more freedom than a lighting change: at 0.4 img2img keeps almost all of
# the old colour (the demo model moved it in 5% of edits; SD-class models behave alike).
# The layout still holds at 0.7 (see imaging/demo/weights/MODEL_CARD.md).
RECOLOUR_STRENGTH = 0.7


def edit_strength(instruction: str) -> float:
    """How far img2img may move from the picked image: low for light (the picture must
    stay the same), more for a new colour of a thing, higher when objects come or go or the
    medium changes."""
    if _RECOLOUR.match(instruction.strip()):
        return RECOLOUR_STRENGTH
    if _STYLE.search(instruction):
        return 0.65
    if _OBJECTS.search(instruction):
        return 0.6
    if _LIGHT.search(instruction):
        return 0.4
    return 0.5
