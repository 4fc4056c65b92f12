"""Prompt building for the rules brain: expand a subject, apply follow-up edits, gloss.

A prompt is handled as `PromptParts`: the subject clause (the user's words) followed by
comma-separated extra clauses in priority order. That is also how LLM-written prompts are
usually shaped, so follow-ups work on an earlier prompt whichever backend wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.llm import rules_lexicon as lex
from bot.llm.common import fit_prompt
from bot.llm.profiles import SD, PromptProfile
from bot.llm.rules_gloss import gloss

__all__ = ["PromptParts", "expand", "find_medium", "gloss", "words"]

_MEDIA = [(m, re.compile(rf"\b(?:{m.pattern})\b")) for m in lex.MEDIA]
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_KNOWN_CUES: dict[str, str] = {}  # cue clause -> kind, to recognise our own cues later
for _cues in lex.CATEGORY_CUES.values():
    for _kind in ("medium", "composition", "lighting", "detail", "optics"):
        for _clause in getattr(_cues, _kind).split(","):
            if _clause.strip():
                _KNOWN_CUES[_clause.strip()] = _kind
for _medium in lex.MEDIA:
    _KNOWN_CUES[_medium.name] = "medium"
    for _clause in _medium.cues:
        _KNOWN_CUES[_clause] = "medium"
for _clauses in (*lex.TIMES.values(), *lex.MOODS.values()):
    for _clause in _clauses:
        for _part in _clause.split(","):
            _KNOWN_CUES.setdefault(_part.strip(), "lighting")


def words(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def find_medium(text: str) -> lex.Medium | None:
    lowered = text.lower()
    for medium, pattern in _MEDIA:
        if pattern.search(lowered):
            return medium
    return None


def category_of(subject: str) -> str:
    """The category of the first word that has one: subjects usually lead with the head noun."""
    for word in words(subject):
        for name, vocab in lex.CATEGORY_WORDS.items():
            if word in vocab or singular(word) in vocab:
                return name
    return "thing"


def has_light(text: str) -> bool:
    return any(w in lex.LIGHT_WORDS for w in words(text)) or "golden hour" in text.lower()


@dataclass(slots=True)
class PromptParts:
    subject: str
    extras: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, prompt: str) -> PromptParts:
        """Clauses of a prompt; a sentence-style prompt's final stop is not part of them."""
        clauses = [c.strip() for c in prompt.strip().rstrip(".").split(",") if c.strip()]
        return cls(clauses[0] if clauses else "", clauses[1:])

    def render(self, max_prompt_tokens: int, style: str = "tags") -> str:
        seen: set[str] = set()
        clauses = []
        for clause in [self.subject, *self.extras]:
            if clause and clause.lower() not in seen:
                seen.add(clause.lower())
                clauses.append(clause)
        prompt = fit_prompt(", ".join(clauses), max_prompt_tokens)
        if style == "sentences" and prompt:
            # One natural sentence for engines that read language (FLUX, SD3, DALL-E).
            prompt = prompt[0].upper() + prompt[1:] + "."
        return prompt


def expand(subject: str, profile: PromptProfile = SD) -> PromptParts:
    """The user's subject first, then the medium, composition, light and texture cues that
    help the engine (`profile`); an engine that knows only captions gets the subject alone."""
    if profile.style == "caption" or not profile.cues:
        return PromptParts(subject, [])
    cues = lex.CATEGORY_CUES[category_of(subject)]
    medium = find_medium(subject)
    extras: list[tuple[str, str]] = []  # (cue kind, clause)
    if medium is None:
        extras.append(("medium", cues.medium))
        kind = "photo" if "photograph" in cues.medium else "paint"
    else:  # the user's own style word stays in the subject; we only add its cues
        extras.extend(("medium", c) for c in medium.cues)
        kind = medium.kind
    if "portrait" in subject.lower():
        extras.append(("composition", "close-up portrait"))
    else:
        extras.append(("composition", cues.composition))
    if cues.lighting and not has_light(subject) and kind != "flat":
        extras.append(("lighting", cues.lighting))
    if kind != "flat":
        extras.append(("detail", cues.detail))
    if kind == "photo" and cues.optics:
        extras.append(("optics", cues.optics))
    return PromptParts(subject, [e for what, clause in extras if what in profile.cues
                                 for e in _split(clause)])


def _split(clause: str) -> list[str]:
    return [c.strip() for c in clause.split(",") if c.strip()]


def _without(extras: list[str], kinds: set[str], words_in: frozenset[str] = frozenset()) -> list[str]:
    kept = []
    for clause in extras:
        kind = _KNOWN_CUES.get(clause)
        if kind in kinds:
            continue
        if words_in and any(w in words_in for w in words(clause)):
            continue
        kept.append(clause)
    return kept


# --- follow-up edits ----------------------------------------------------------------------
_TIME_IN_SUBJECT = re.compile(
    r"\s*\b(?:at|during|in the|by)\s+(?:" + "|".join(sorted(lex.TIMES, key=len, reverse=True))
    + r")\b",
    re.I,
)


def set_time(parts: PromptParts, when: str) -> PromptParts:
    subject = _TIME_IN_SUBJECT.sub("", parts.subject).strip()
    extras = _without(parts.extras, {"lighting"}, lex.LIGHT_WORDS)
    return PromptParts(subject, [*lex.TIMES[when], *extras])


def set_mood(parts: PromptParts, mood: str) -> PromptParts:
    new = lex.MOODS[mood]
    replaces_light = any(has_light(c) for c in new)
    extras = _without(parts.extras, {"lighting"} if replaces_light else set())
    return PromptParts(parts.subject, [*(c for n in new for c in _split(n)), *extras])


def set_medium(parts: PromptParts, medium: lex.Medium, phrase: str | None = None) -> PromptParts:
    """Swap the medium: drop the old medium words and cues that clash with the new one."""
    subject = parts.subject
    old = find_medium(subject)
    if old is not None:
        pattern = next(p for m, p in _MEDIA if m is old)
        # "a watercolour of a fox" -> "a fox"; "a fox, watercolour" handled via extras.
        subject = re.sub(rf"^(?:an?\s+)?(?:{pattern.pattern})\s+of\s+", "", subject, flags=re.I)
        subject = re.sub(pattern.pattern, "", subject, flags=re.I)
        subject = re.sub(r"\s{2,}", " ", subject).strip(" ,")
    drop = {"medium", "optics"} if medium.kind != "photo" else {"medium"}
    if medium.kind == "flat":
        drop |= {"detail"}
    extras = [c for c in _without(parts.extras, drop) if find_medium(c) is None]
    return PromptParts(subject or parts.subject, [phrase or medium.name, *medium.cues, *extras])


def add_thing(parts: PromptParts, thing: str) -> PromptParts:
    thing = re.sub(r"\s+(?:on|to|onto|into)\s+(?:it|him|her|them|the (?:image|picture))$", "",
                   thing.strip(), flags=re.I)
    head = singular(words(thing)[-1]) if words(thing) else ""
    subject = parts.subject
    if re.search(r"\b(?:with|wearing)\b", subject, re.I):
        joiner = "and"
    else:
        joiner = "wearing" if head in lex.CLOTHING else "with"
    return PromptParts(f"{subject} {joiner} {thing}", parts.extras)


def remove_thing(parts: PromptParts, thing: str) -> PromptParts | None:
    """Drop the noun phrase naming `thing` (with its connecting word); None if nothing is left."""
    target = words(thing)
    if not target:
        return parts
    head = singular(target[-1])
    tokens = parts.subject.split()
    lowered = [singular(re.sub(r"\W", "", t.lower())) for t in tokens]
    if head not in lowered:
        return PromptParts(parts.subject, [c for c in parts.extras if head not in words(c)])
    end = lowered.index(head)
    start = end
    # Walk back over adjectives to the determiner ("a big brown dog").
    while start > 0 and end - start < 4:
        prev = lowered[start - 1]
        if prev in lex.CONNECTORS:
            break
        start -= 1
        if prev in lex.DETERMINERS:
            break
    # Take the words that tied the phrase to the rest ("and", "with", "in front of").
    for phrase in lex.CONNECTOR_PHRASES:
        if start >= len(phrase) and tuple(lowered[start - len(phrase) : start]) == phrase:
            start -= len(phrase)
            break
    else:
        if start >= 1 and lowered[start - 1].endswith("ing"):  # "walking her dog"
            start -= 1
    rest = tokens[:start] + tokens[end + 1 :]
    if start == 0:  # the head itself went: "on a skateboard" -> "a skateboard"
        while rest and re.sub(r"\W", "", rest[0].lower()) in lex.CONNECTORS:
            rest = rest[1:]
    subject = " ".join(rest).strip(" ,")
    if not words(subject):
        return None
    extras = [c for c in parts.extras if head not in [singular(w) for w in words(c)]]
    return PromptParts(subject, extras)


def recolour(parts: PromptParts, noun: str, adjective: str) -> PromptParts | None:
    """"make the cat orange" -> "an orange cat"; None when the noun is not in the subject."""
    pattern = re.compile(rf"\b((?:an?|the)\s+)?({re.escape(noun)})\b", re.I)
    match = pattern.search(parts.subject)
    if match is None:
        return None
    article = match.group(1) or ""
    if article.strip().lower() in {"a", "an"}:
        article = ("an " if adjective[0].lower() in "aeiou" else "a ")
    subject = parts.subject[: match.start()] + f"{article}{adjective} {match.group(2)}"
    return PromptParts(subject + parts.subject[match.end() :], parts.extras)


# Where the subject's head noun phrase ends: "a blue car | on a yellow background".
_HEAD_END = re.compile(r"\s(?:on|in|against|with|at|by|under|over|near|behind|beside|next to|"
                       r"inside|from|and|wearing|holding)\s", re.I)
_SHADE = r"(?:(?:light|dark|pale|bright|deep|hot|midnight|sky|navy)[\s-])?"


def recolour_subject(parts: PromptParts, colour: str) -> PromptParts | None:
    """"make it red": the subject's own colour changes ("a blue car on a yellow background"
    -> "a red car on a yellow background"), so the prompt never asks for two colours at
    once. None when the subject's head is not a short noun phrase we can safely edit."""
    subject = parts.subject
    end = _HEAD_END.search(subject)
    head, tail = (subject[: end.start()], subject[end.start():]) if end else (subject, "")
    names = "|".join(sorted(lex.OBJECT_COLOURS, key=len, reverse=True))
    existing = re.compile(rf"\b{_SHADE}(?:{names})(?:-colou?red)?\b", re.I)
    if existing.search(head):
        head = existing.sub(colour, head, count=1)
    else:
        tokens = head.split()
        if not 1 <= len(tokens) <= 4 or not tokens[-1].isalpha():
            return None
        tokens.insert(len(tokens) - 1, colour)
        head = " ".join(tokens)
    head = re.sub(r"^(an?)\s+(\S)", lambda m: ("an " if m[2].lower() in "aeiou" else "a ") + m[2],
                  head, flags=re.I)
    extras = [c for c in parts.extras if not c.endswith("colour scheme")]
    return PromptParts(head + tail, extras)


def modify(parts: PromptParts, clause: str) -> PromptParts:
    """An edit we have no special rule for: keep it verbatim, right after the subject."""
    return PromptParts(parts.subject, [clause.strip(), *parts.extras])
