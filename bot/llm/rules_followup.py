"""Follow-ups in words for the rules brain: "make it at night", "without the dog"...

`follow_up` reads a message as an edit of the previous prompt, or returns None when it is
not one (then the message is a new request or chat). Each recognised form maps to one
`PromptParts` edit in `rules_prompt`; anything else that clearly addresses the picture
("make it X", "in winter") is kept verbatim right after the subject.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.llm import rules_lexicon as lex
from bot.llm import rules_prompt as rp


@dataclass(frozen=True, slots=True)
class Edit:
    parts: rp.PromptParts | None  # None: the edit removed everything
    keep_seed: bool = True
    negative: str | None = None


_EDIT_TARGET = re.compile(
    r"^(?:make|turn|change|do|redo|render|draw|paint|show|try|have|set|give me)\s+(?:it|this|"
    r"that|them|him|her|the (?:image|picture|photo|one|last one|same(?: one)?))(?:\s+(?:again|"
    r"one more time))?\s*(?:into|to|as|look|be)?\s*(?P<rest>.*)$"
)
_AGAIN = re.compile(r"^(?:again|another(?: one)?|one more(?: time)?|try again|redo|re-?roll|"
                    r"new seed|(?:a )?different one|(?:a |another )?variation|same again)$")
_REMOVE = re.compile(r"^(?:without|remove|delete|erase|get rid of|take (?:out|away)|drop|lose|"
                     r"no more|leave out|no)\s+(?:the\s+|a\s+|an\s+|any\s+|all (?:the\s+)?|his\s+|"
                     r"her\s+|its\s+|their\s+)?(?P<thing>.+?)(?:\s+from (?:it|the \w+))?$")
_ADD = re.compile(r"^(?:add|put|give (?:it|him|her|them)|include|with|and)\s+(?P<thing>.+)$")
_TIME = re.compile(r"^(?:at|by|during|in the|in|into)?\s*(?P<when>night(?:time)?|midnight|sunset|"
                   r"sunrise|dawn|dusk|twilight|evening|morning|noon|midday|day(?:time)?|"
                   r"golden hour)(?:\s*time)?$")
_STYLE = re.compile(r"^(?:(?:in|as|into|like)\s+)?(?:an?\s+|the\s+)?(?:style of\s+(?:an?\s+)?)?"
                    r"(?P<what>.+?)(?:\s+style)?$")
_RECOLOUR = re.compile(r"^(?:make|turn|paint|colou?r)\s+(?:the|his|her|its)\s+(?P<noun>[a-z]+)\s+"
                       r"(?P<adj>[a-z]+)$")
# Messages that only make sense as an edit of an earlier picture.
EDIT_ONLY = re.compile(r"^(?:without|remove|delete|erase|get rid of|take (?:out|away)|add|put|"
                        r"(?:make|turn|change|give) (?:it|this|that|them|him|her)|more|less|"
                        r"again|another one|one more)\b")
_DEGREE = re.compile(r"^(?:a (?:bit|little)|much|slightly|even|way)\s+")
_GENERIC = re.compile(r"^(?:in|on|under|inside|underwater|at|during|more|less|but|with)\b")


def follow_up(parts: rp.PromptParts, core: str) -> Edit | None:
    """Apply a follow-up in words to the previous prompt; None when it is not a follow-up."""
    t = core.lower().strip(" .!?")
    t = re.sub(r"^(?:(?:can|could|would) you\s+|please\s+|let'?s\s+|i want\s+|i'd like\s+)+", "", t)
    if (m := _RECOLOUR.match(t)) and (edited := rp.recolour(parts, m["noun"], m["adj"])):
        return Edit(edited)
    target = _EDIT_TARGET.match(t)
    rest = target["rest"].strip() if target else t
    rest = _DEGREE.sub("", rest)
    if not rest or _AGAIN.match(rest):
        return Edit(parts, keep_seed=False) if (target or rest) else None
    if (m := _REMOVE.match(rest)) and (m["thing"].count(" ") < 3 or not rest.startswith("no ")):
        return Edit(rp.remove_thing(parts, m["thing"]), negative=m["thing"])
    if m := _TIME.match(rest.replace("-", " ")):
        return Edit(rp.set_time(parts, " ".join(m["when"].split()).replace("night time", "night")))
    if rest in lex.MOODS:
        return Edit(rp.set_mood(parts, rest))
    if len(rest.split()) <= 6 and (m := _STYLE.match(rest)):
        what = m["what"].removeprefix("more ")
        medium = rp.find_medium(what)
        if medium is not None:
            return Edit(rp.set_medium(parts, medium))
        if "style of" in rest:
            custom = lex.Medium(f"in the style of {what}", "", (), "paint")
            return Edit(rp.set_medium(parts, custom))
    if m := _ADD.match(rest):
        return Edit(rp.add_thing(parts, m["thing"]))
    if (target or _GENERIC.match(rest)) and len(rest.split()) <= 8 and "?" not in core:
        if target and rest in lex.OBJECT_COLOURS and (
                recoloured := rp.recolour_subject(parts, rest)):
            return Edit(recoloured)  # "make it red": the thing itself turns red
        if rest in lex.COLOURS:  # "make it pastel", or no subject to recolour: a palette
            rest = f"{rest} colour scheme"
        return Edit(rp.modify(parts, rest))
    return None
