"""The rules brain: offline, deterministic intent detection and prompt rewriting.

It is the default backend and the safety net for the LLM backends, so it must never need
a model or the network. Order of checks in `decide`: a forced tool; a follow-up to the
last image ("make it at night"); an explicit picture request ("draw me..."); a chat
message (greeting, help, "how do I..."); a bare description ("a fox in the snow").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.llm import rules_lexicon as lex
from bot.llm import rules_prompt as rp
from bot.llm.base import BrainError, BrainRequest, Decision, HistoryItem
from bot.llm.common import check_decision, offered_tools
from bot.llm.rules_followup import EDIT_ONLY, follow_up
from tools.image_args import GENERATE_IMAGE_SPEC, MAX_IMAGES

TOOL = GENERATE_IMAGE_SPEC.name

HELP = (
    "I'm easel: I make pictures from plain words. Describe what you'd like — "
    '"draw a fox in a snowy forest", "a watercolour of a lighthouse at dawn" — and I write a '
    "detailed prompt and generate it; the prompt I used is shown under the image. Then "
    'change it in words: "make it at night", "add a red hat", "without the dog", '
    '"in watercolour", "more photorealistic", or "another one" for a new variation.\n'
    "Commands: /imagine <prompt> (options --n 1-4, --size WxH, --seed N, and --raw to use "
    "your words exactly as written), /help."
)
GREETING = (
    'Hi! Tell me what to draw — for example "draw a cat on a skateboard" — or use '
    "/imagine <prompt>. Type /help to see everything I can do."
)
THANKS = (
    'You\'re welcome! Say "another one" for a variation, or change the picture in words: '
    '"make it at night", "in watercolour", "add a red hat", "without the dog".'
)
HOW_TO = {
    r"raw|exact|literal|own words|rewrit|my prompt": (
        "To skip my rewriting and use your words exactly, type /imagine --raw <prompt>. "
        "Without --raw I expand your words into a detailed prompt and show it under the image."
    ),
    r"seed|same (?:image|picture)|reproduc": (
        "Every image has a seed; /imagine <prompt> --seed 1234 repeats a picture exactly. "
        "Follow-ups in words reuse the previous seed automatically so the composition stays."
    ),
    r"size|wide|landscape|portrait|resolution|aspect|bigger": (
        "Use /imagine <prompt> --size WxH, for example --size 768x512 for a wide picture."
    ),
    r"several|multiple|more than one|many|variations|\bn\b": (
        'Use /imagine <prompt> --n 4 for up to four images at once, or say "another one" '
        "after a picture for a new variation."
    ),
    r"change|edit|modify|fix|tweak|adjust|remove|add": (
        "Just say what to change after a picture: \"make it at night\", \"add a red hat\", "
        '"without the dog", "more photorealistic", "in watercolour". I keep the subject and '
        "the seed and apply the change."
    ),
}
HOW_TO_DEFAULT = (
    'Describe the picture in plain words — "draw a red fox in a snowy forest" — or type '
    "/imagine <prompt>. Naming a style helps: photo, watercolour, pixel art, oil painting."
)
NO_PICTURE_YET = (
    "There's no earlier picture in this conversation to change yet — describe what you'd "
    'like, for example "draw a cabin in the woods at night".'
)
NOTHING_LEFT = "That would leave nothing in the picture — tell me what to draw instead."
DEFAULT = (
    "I'm an image assistant, so I can't look that up, but I can draw it. Describe a picture "
    '— "a lighthouse in a storm, oil painting" — or type /help.'
)
FOLLOW_UP_HINT = ' To change the last picture, say something like "make it at night".'

_FILLER = re.compile(
    r"^(?:(?:hey|hi|hello|ok|okay|so|please|pls|now|then|and|but|also|easel|great|nice|cool|"
    r"perfect|awesome|thanks|thank you|no(?=\s*,)|help me(?: to)?|alright|right)\b[\s,!.:;-]*)+",
    re.I,
)
_TAIL = re.compile(r"(?:[\s,]+(?:please|pls|for me|thanks|thank you|now))+[\s.!?]*$|[\s.!?]+$", re.I)
_SIZE = re.compile(r"[\s,]*(?:\b(?:at|in|size)\s+)?\b([1-9]\d{1,3})\s*[x×]\s*([1-9]\d{1,3})\b", re.I)

_POLITE = r"(?:(?:can|could|would|will) you\s+(?:please\s+)?|please\s+|i (?:want|need) you to\s+)?"
_PIC = (r"(?:pictures?|images?|pics?|photos?|photographs?|drawings?|paintings?|illustrations?|"
        r"sketch(?:es)?|renders?|renderings?|artworks?|wallpapers?|portraits?|watercolou?rs?)")
_COUNT = r"(?:(?P<count>an?|one|two|three|four|\d+|some|a few|a couple of)\s+)?"
_PIC_REQUEST = re.compile(
    rf"^(?:{_POLITE}(?:draw|paint|sketch|make|create|generate|produce|design|show|give|get|send)"
    rf"(?:\s+(?:me|us))?|i\s*(?:want|need|would like|'d like|would love)(?:\s+to see)?)?\s*"
    rf"{_COUNT}(?P<noun>{_PIC})\s+(?:of|showing|depicting|with|about)\s+(?P<subject>.+)$",
    re.I,
)
_VERB_REQUEST = re.compile(
    rf"^{_POLITE}(?P<verb>draw|paint|sketch|illustrate|render|imagine|visuali[sz]e|depict|"
    r"make|create|generate|design|show)(?:\s+(?:me|us))?\s+(?P<subject>.+)$",
    re.I,
)
# Verbs that need an object that looks like a picture ("make a cat", not "make sure...").
_LOOSE_VERBS = {"make", "create", "generate", "design", "show", "imagine"}
_NOT_A_SUBJECT = re.compile(r"^(?:how|what|where|why|when|who|which|your|yourself|sure|me)\b", re.I)
_VERB_MEDIUM = {"paint": "a painting of", "sketch": "a pencil sketch of",
                "illustrate": "an illustration of", "render": "a 3D render of"}
_NOUN_MEDIUM = {"photo": "a photo of", "photograph": "a photo of", "painting": "a painting of",
                "drawing": "a drawing of", "sketch": "a pencil sketch of", "portrait": "a portrait of",
                "illustration": "an illustration of", "render": "a 3D render of",
                "watercolour": "a watercolour of", "watercolor": "a watercolour of"}
_COUNTS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "some": 2, "a few": 3,
           "a couple of": 2}

_FOREIGN = {
    "fr": re.compile(
        r"^(?:(?:peux|pourrais)[- ]tu\s+(?:me\s+)?)?(?P<verb>dessine|dessiner|peins|peindre|montre|"
        r"montrer|crée|créer|génère|générer|fais|faire)(?:[- ]moi)?\s+(?:(?:un|une)\s+(?:dessin|"
        r"image|photo|peinture|illustration)\s+(?:de\s+|d'|du\s+|des\s+))?(?P<subject>.+)$", re.I),
    "es": re.compile(
        r"^(?:(?:puedes|podrías)\s+)?(?P<verb>dibuja|dibújame|dibujame|dibujar|pinta|píntame|"
        r"pintame|pintar|muéstrame|muestrame|hazme|haz|crea|créame|genera|generar)(?:me)?\s+"
        r"(?:(?:un|una)\s+(?:dibujo|imagen|foto|pintura|ilustración)\s+(?:de|del)\s+)?"
        r"(?P<subject>.+)$", re.I),
    "de": re.compile(
        r"^(?:(?:kannst|könntest) du\s+)?(?P<verb>zeichne|male(?=\s+mir)|zeig|zeige|erstelle|generiere|"
        r"mach|mache)?(?:\s*mir)?\s+(?:(?:ein|eine|einen)\s+(?:bild|foto|zeichnung|gemälde)\s+"
        r"(?:von|vom|mit)\s+)?(?P<subject>.+?)(?:\s+(?P<end>zeichnen|malen|zeigen|erstellen))?$",
        re.I),
}
_FOREIGN_PAINT = {"peins", "peindre", "pinta", "píntame", "pintame", "pintar", "male", "malen"}


@dataclass(frozen=True, slots=True)
class _Draw:
    subject: str
    n: int = 1


class RulesBrain:
    name = "rules"

    async def decide(self, req: BrainRequest) -> Decision:
        return self.decide_now(req)

    async def aclose(self) -> None:
        return None

    def decide_now(self, req: BrainRequest) -> Decision:
        """The synchronous core; pure, so tests and the fallback can call it freely."""
        text = " ".join(req.text.split())
        can_draw = TOOL in {spec.name for spec in offered_tools(req)}
        if req.force_tool is not None:
            if req.force_tool != TOOL:
                raise BrainError(f"the rules backend cannot call {req.force_tool}")
            # The command already says "draw", so the words are the subject as written
            # ("/imagine hello world"), unless they repeat the request ("draw me a cat").
            draw = _picture_request(_strip_filler(text)) or _Draw(text)
            return self._draw(req, draw)
        core = _strip_filler(text)
        if req.history and can_draw:
            decision = self._follow_up(req, core)
            if decision is not None:
                return decision
        draw = _picture_request(core)
        if draw is not None and can_draw:
            if _words(draw.subject)[:1] and _words(draw.subject)[0] in lex.PRONOUNS:
                if not req.history:
                    return self._answer(NO_PICTURE_YET)
                rest = re.sub(r"^\W*\w+\s*", "", draw.subject)  # "it at night" -> "at night"
                decision = self._follow_up(req, f"make it {rest}")
                if decision is not None:
                    return decision
            return self._draw(req, draw)
        answer = _chat_answer(core or text)
        if answer is not None:
            return self._answer(answer)
        if not req.history and EDIT_ONLY.match(core.lower()):
            return self._answer(NO_PICTURE_YET)  # "without the dog" with nothing to edit
        if can_draw and _looks_like_description(core):
            return self._draw(req, _Draw(core))
        return self._answer(DEFAULT + (FOLLOW_UP_HINT if req.history else ""))

    def _answer(self, text: str) -> Decision:
        return Decision(answer=text, backend=self.name)

    def _draw(self, req: BrainRequest, draw: _Draw) -> Decision:
        subject, size = _take_size(draw.subject)
        if not _words(subject):
            return self._answer('Tell me what to draw, e.g. "draw a fox in the snow".')
        parts = rp.expand(_clean_subject(subject))
        args: dict[str, Any] = {"prompt": parts.render(req.max_prompt_tokens), "n": draw.n}
        if size:
            args["size"] = size
        return check_decision(Decision(tool=TOOL, args=args, backend=self.name), req)

    def _follow_up(self, req: BrainRequest, core: str) -> Decision | None:
        last = req.history[-1]
        edit = follow_up(_previous_parts(last), core)
        if edit is None:
            return None
        if edit.parts is None:
            return self._answer(NOTHING_LEFT)
        args: dict[str, Any] = {"prompt": edit.parts.render(req.max_prompt_tokens), "n": 1}
        if edit.keep_seed and last.seed is not None:
            args["seed"] = last.seed
        if edit.negative:
            args["negative_prompt"] = edit.negative
        return check_decision(Decision(tool=TOOL, args=args, backend=self.name), req)


def _previous_parts(last: HistoryItem) -> rp.PromptParts:
    if last.prompt.strip():
        return rp.PromptParts.parse(last.prompt)
    draw = _picture_request(_strip_filler(last.user_text)) or _Draw(last.user_text)
    return rp.expand(_clean_subject(draw.subject))


_CLAUSE_BREAK = re.compile(r"[,.;:!]\s*|\s+(?:and|then|but|so|instead)\s+", re.I)


def _picture_request(core: str) -> _Draw | None:
    """A picture request at the start of the text or of a later clause.

    Later clauses count so that "ignore previous instructions and draw a dog" is read as
    the ordinary request it contains, and the preamble does not leak into the prompt.
    """
    starts = [0, *(m.end() for m in _CLAUSE_BREAK.finditer(core))]
    for start in starts:
        draw = _picture_request_at(core[start:].strip())
        if draw is not None:
            return draw
    return None


def _picture_request_at(core: str) -> _Draw | None:
    if not core:
        return None
    if m := _PIC_REQUEST.match(core):
        count = (m["count"] or "a").lower()
        n = int(count) if count.isdigit() else _COUNTS.get(count, 1)
        noun = rp.singular(m["noun"].lower())
        subject = m["subject"]
        prefix = _NOUN_MEDIUM.get(noun)
        if prefix and rp.find_medium(subject) is None:
            subject = f"{prefix} {subject}"
        return _Draw(subject, max(1, min(n, MAX_IMAGES)))
    if (m := _VERB_REQUEST.match(core)) and not _NOT_A_SUBJECT.match(m["subject"]):
        verb, subject = m["verb"].lower(), m["subject"]
        first = _words(subject)[:1]
        if verb in _LOOSE_VERBS and not (first and (first[0] in lex.DETERMINERS
                                                    or first[0] in lex.PRONOUNS
                                                    or rp.find_medium(subject))):
            return None
        prefix = _VERB_MEDIUM.get(verb)
        if prefix and rp.find_medium(subject) is None:
            subject = f"{prefix} {subject}"
        return _Draw(subject)
    for lang, pattern in _FOREIGN.items():
        m = pattern.match(core)
        if m and (m["verb"] or m.groupdict().get("end")):
            subject = rp.gloss(m["subject"], lang)
            verb = (m["verb"] or m.groupdict().get("end") or "").lower()
            if verb in _FOREIGN_PAINT and rp.find_medium(subject) is None:
                subject = f"a painting of {subject}"
            return _Draw(subject)
    return None


def _chat_answer(text: str) -> str | None:
    t = text.lower().strip(" .!?")
    if re.fullmatch(r"(?:hi|hello|hey|hiya|howdy|yo|good (?:morning|afternoon|evening)|greetings|"
                    r"bonjour|salut|hola|hallo|ciao)(?: there| easel| everyone| all)?", t):
        return GREETING
    if re.fullmatch(r"(?:thanks|thank you|thx|ty|cheers|great|awesome|nice|cool|perfect|love it|"
                    r"amazing|beautiful|wow|merci|gracias|danke)(?: so much| a lot| very much)?", t):
        return THANKS
    if re.match(r"how (?:do|can|should|would) (?:i|we|you)\b|how to\b", t) and not re.search(
        r"\buse (?:you|this|easel)\b|\bwork\b", t
    ):
        for pattern, answer in HOW_TO.items():
            if re.search(pattern, t):
                return answer
        return HOW_TO_DEFAULT
    if re.search(r"\bhelp\b|what can you (?:do|make)|what do you do|who are you|what are you|"
                 r"how does (?:this|it|easel) work|\bcommands?\b|how (?:do|can) i use|"
                 r"what(?: is|'s) easel|how to use|\bfeatures\b|capabilit", t):
        return HELP
    return None


def _looks_like_description(core: str) -> bool:
    if not core or "?" in core or len(core.split()) > 30:
        return False
    first = _words(core)[0] if _words(core) else ""
    if first in {"what", "how", "why", "who", "when", "where", "is", "are", "do", "does", "can",
                 "could", "should", "will", "would", "tell", "explain", "i", "you", "my", "it"}:
        return False
    return (first in lex.DETERMINERS or rp.category_of(core) != "thing"
            or rp.find_medium(core) is not None)


def _strip_filler(text: str) -> str:
    return _FILLER.sub("", text).strip()


def _clean_subject(subject: str) -> str:
    subject = _TAIL.sub("", subject.strip())
    return subject.strip(" ,;:\"'")


def _take_size(subject: str) -> tuple[str, str | None]:
    m = _SIZE.search(subject)
    if m is None:
        return subject, None
    return (subject[: m.start()] + subject[m.end() :]).strip(), f"{m[1]}x{m[2]}"


def _words(text: str) -> list[str]:
    return rp.words(text)
