"""Faithfulness: a rewrite keeps everything the user said and contradicts none of it.

Checked in code after every rewrite, whichever backend wrote it (rules, transformers,
openai). What the user stated is read from their words: the content words of the thing
to draw (subject, colours, counts, setting, positions), and the attributes that added
cues can contradict: time of day, weather, medium, palette, position and background.
A prompt that drops a stated word, or adds a clause that contradicts a stated attribute
("golden hour" against "blue sky", "photograph" against "watercolour", "centered
composition" against "at the top"), is repaired: contradicting clauses go, a missing
subject comes back first; `FaithfulBrain` logs why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.llm import rules_lexicon as lex
from bot.llm import rules_prompt as rp

# Words that carry no attribute of the picture: articles, prepositions, request filler.
_STOP = frozenset(
    "a an the of in on at to with and or by for from into onto over under near behind "
    "beside next its it this that some very really please me us my our your is are be "
    "being made as like just".split()
)
NUMBER_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
            "seven": "7", "eight": "8", "nine": "9", "ten": "10", "a pair of": "2"}

# Times of day, as the groups added cues may not mix with. "blue sky" and "sunny" say day.
_TIME_GROUPS: dict[str, tuple[str, ...]] = {
    "day": ("noon", "midday", "daytime", "daylight", "blue sky", "sunny", "bright daylight",
            "broad daylight", "clear sky"),
    "night": ("night", "nighttime", "midnight", "moonlight", "moonlit", "starry", "stars",
              "dark sky"),
    "golden": ("sunset", "sunrise", "dawn", "dusk", "twilight", "golden hour", "blue hour",
               "evening", "golden light", "warm golden"),
    "morning": ("morning",),
}
_TIME_CLASH = {"day": {"night", "golden"}, "night": {"day", "golden", "morning"},
               "golden": {"day", "night"}, "morning": {"night", "golden"}}
_WEATHER_GROUPS: dict[str, tuple[str, ...]] = {
    "clear": ("sunny", "clear sky", "cloudless", "blue sky", "sunshine"),
    "rain": ("rain", "rainy", "raining", "drizzle", "downpour", "wet street"),
    "snow": ("snow", "snowy", "snowing", "snowfall", "blizzard"),
    "storm": ("storm", "stormy", "thunder", "lightning storm"),
    "fog": ("fog", "foggy", "mist", "misty", "haze", "hazy", "atmospheric perspective"),
    "overcast": ("overcast", "cloudy", "grey sky", "gray sky"),
}
# Snow lies on the ground under a sunny sky; rain and sunshine do not mix.
_WEATHER_CLASH = {"clear": {"rain", "storm", "fog", "overcast"},
                  "rain": {"clear", "snow"}, "snow": {"rain"},
                  "storm": {"clear"}, "fog": {"clear"}, "overcast": {"clear"}}
_PHOTO_WORDS = ("photograph", "photo", "photorealistic", "dslr", "35mm", "depth of field",
                "bokeh", "lens", "shot on", "film grain")
_NON_PHOTO_WORDS = ("painting", "watercolour", "watercolor", "illustration", "drawing",
                    "sketch", "cartoon", "anime", "pixel art", "vector", "brushstrokes",
                    "painterly", "digital art", "render")
_PALETTE_WORDS = ("monochrome", "black and white", "sepia", "grayscale", "greyscale",
                  "duotone", "colour scheme", "color scheme")
_POSITION = re.compile(r"\b(?:left|right|top|bottom|corner|upper|lower|foreground)\b")
_CENTRED = ("centered", "centred", "center", "centre")
_SETTING = re.compile(r"\b(?:background|in (?:a|an|the)\s+\w+|on (?:a|an|the)\s+\w+|"
                      r"at (?:a|an|the)\s+\w+|under ?water|underwater|outdoors|indoors)\b")
_PLAIN_BACKDROP = ("plain background", "white background", "isolated", "studio backdrop",
                   "empty background", "simple background")


@dataclass(frozen=True, slots=True)
class Stated:
    """What the user's words fix about the picture."""

    words: frozenset[str]  # content words, singular
    colours: frozenset[str]
    times: frozenset[str]  # time-of-day groups
    weather: frozenset[str]
    medium: lex.Medium | None
    positioned: bool  # "at the top", "on the left"...
    setting: bool  # a background or place
    plain: bool = False  # the user asked for a plain or white backdrop themselves

    @classmethod
    def read(cls, text: str) -> Stated:
        low = " ".join(text.lower().split())
        words = {norm(w) for w in rp.words(low) if w not in _STOP}
        words |= {NUMBER_WORDS[n] for n in NUMBER_WORDS if re.search(rf"\b{n}\b", low)}
        words |= set(re.findall(r"\b\d+\b", low))
        return cls(
            words=frozenset(w for w in words if w),
            colours=frozenset(w for w in rp.words(low) if w in lex.OBJECT_COLOURS),
            times=_groups(low, _TIME_GROUPS),
            weather=_groups(low, _WEATHER_GROUPS),
            medium=rp.find_medium(low),
            positioned=bool(_POSITION.search(low)),
            setting=bool(_SETTING.search(low)),
            plain=_has(low, _PLAIN_BACKDROP),
        )


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # "missing" or "contradiction"
    detail: str
    clause: str | None = None  # the prompt clause at fault (contradictions)

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}" + (f" ({self.clause!r})" if self.clause else "")


def check(stated: Stated, prompt: str, *, follow_up: bool = False) -> list[Problem]:
    """Problems of `prompt` against what the user stated. A follow-up ("make it darker")
    states a change, not the whole picture: only contradictions are checked then."""
    problems: list[Problem] = []
    if not follow_up:
        have = {norm(w) for w in rp.words(prompt.lower())}
        have |= set(re.findall(r"\b\d+\b", prompt)) | {
            NUMBER_WORDS[n] for n in NUMBER_WORDS if re.search(rf"\b{n}\b", prompt.lower())}
        missing = sorted(stated.words - have)
        if missing:
            problems.append(Problem("missing", "the prompt lost " + ", ".join(missing)))
    for clause in _clauses(prompt):
        why = contradiction(stated, clause)
        if why:
            problems.append(Problem("contradiction", why, clause))
    return problems


def contradiction(stated: Stated, clause: str) -> str | None:
    """Why `clause` contradicts what the user said, or None. A clause that repeats the
    user's own words is theirs, not an addition."""
    low = clause.lower()
    for group in _groups(low, _TIME_GROUPS):
        clash = _TIME_CLASH[group] & stated.times
        if clash and group not in stated.times:
            return f"{group} light against the user's {'/'.join(sorted(clash))}"
    for group in _groups(low, _WEATHER_GROUPS):
        clash = _WEATHER_CLASH[group] & stated.weather
        if clash and group not in stated.weather:
            return f"{group} weather against the user's {'/'.join(sorted(clash))}"
    medium = stated.medium
    if medium is not None:
        if medium.kind != "photo" and _has(low, _PHOTO_WORDS):
            return f"photographic cues against the user's {medium.name}"
        if medium.kind == "photo" and _has(low, _NON_PHOTO_WORDS) and rp.find_medium(low) \
                is not medium:
            return "a painted or drawn style against the user's photograph"
        other = rp.find_medium(low)
        if other is not None and other.kind != medium.kind and other is not medium:
            return f"{other.name} against the user's {medium.name}"
    if stated.colours:
        added = [w for w in rp.words(low) if w in lex.OBJECT_COLOURS and w not in stated.colours]
        if added or _has(low, _PALETTE_WORDS):
            return "colours the user did not ask for: " + (", ".join(added) or "a palette")
    if stated.positioned and _has(low, _CENTRED):
        return "centred against the user's position"
    if stated.setting and not stated.plain and _has(low, _PLAIN_BACKDROP):
        return "a plain backdrop against the user's setting"
    return None


def repair(stated: Stated, subject: str, prompt: str, problems: list[Problem], *,
           follow_up: bool = False) -> str:
    """Drop the contradicting clauses; when words went missing, the user's subject comes
    back first. What is left of the rewrite's cues stays after it. In a follow-up the
    first clause is the picture's subject, kept as it is."""
    bad = {p.clause for p in problems if p.kind == "contradiction"}
    clauses = _clauses(prompt)
    kept = [c for i, c in enumerate(clauses) if c not in bad or (follow_up and i == 0)]
    if follow_up:
        return ", ".join(kept)
    if any(p.kind == "missing" for p in problems):
        kept = [subject, *(c for c in kept if not _same_words(c, subject))]
    kept = [c for c in kept if not contradiction(stated, c) or _same_words(c, subject)]
    return ", ".join(kept) if kept else subject


def _clauses(prompt: str) -> list[str]:
    return [c.strip(" .") for c in re.split(r"[,;]|\.\s", prompt) if c.strip(" .")]


def _groups(low: str, groups: dict[str, tuple[str, ...]]) -> frozenset[str]:
    return frozenset(name for name, terms in groups.items() if _has(low, terms))


def _has(low: str, terms: tuple[str, ...]) -> bool:
    return any(re.search(rf"\b{re.escape(t)}\b", low) for t in terms)


_IRREGULAR = {"men": "man", "women": "woman", "children": "child", "people": "person",
              "mice": "mouse", "geese": "goose", "teeth": "tooth", "feet": "foot",
              "wolves": "wolf", "leaves": "leaf", "knives": "knife", "fish": "fish"}


def norm(word: str) -> str:
    """A word as the checks compare it: lower case, singular, one spelling."""
    word = word.lower()
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word in ("colour", "color", "colours", "colors"):
        return "colour"
    if word in ("grey", "gray"):
        return "grey"
    return rp.singular(word)


def _same_words(a: str, b: str) -> bool:
    return {norm(w) for w in rp.words(a)} <= {norm(w) for w in rp.words(b)}
