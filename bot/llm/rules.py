"""The rules brain: offline, deterministic intent detection and prompt rewriting.

It is the default backend and the safety net for the LLM backends, so it must never need
a model or the network. Order of checks in `decide`: a forced tool; a follow-up to the
last image ("make it at night"); an explicit picture request ("draw me..."); a chat
message (greeting, help, "how do I..."); a bare description ("a fox in the snow").
Reading the request itself ("draw me two cats") lives in `rules_request`.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from bot.llm import faithful
from bot.llm import rules_lexicon as lex
from bot.llm import rules_prompt as rp
from bot.llm import rules_request as rq
from bot.llm.base import BrainError, BrainRequest, Decision, HistoryItem
from bot.llm.common import check_decision, offered_tools
from bot.llm.rules_followup import EDIT_ONLY, follow_up
from tools.image_args import GENERATE_IMAGE_SPEC

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


class RulesBrain:
    name = "rules"

    async def decide(self, req: BrainRequest) -> Decision:
        # Pure CPU work, linear in the text but not free (a few ms for a long message, and
        # once 4.9 s for a megabyte): in a thread, so other conversations go on meanwhile.
        return await asyncio.to_thread(self.decide_now, req)

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
            return self._draw(req, rq.picture_request(rq.strip_filler(text)) or rq.Draw(text))
        core = rq.strip_filler(text)
        if req.history and can_draw:
            decision = self._follow_up(req, core)
            if decision is not None:
                return decision
        draw = rq.picture_request(core)
        if draw is not None and can_draw:
            if rp.words(draw.subject)[:1] and rp.words(draw.subject)[0] in lex.PRONOUNS:
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
        if can_draw and rq.looks_like_description(core):
            return self._draw(req, rq.Draw(core))
        return self._answer(DEFAULT + (FOLLOW_UP_HINT if req.history else ""))

    def _answer(self, text: str) -> Decision:
        return Decision(answer=text, backend=self.name)

    def _draw(self, req: BrainRequest, draw: rq.Draw) -> Decision:
        subject, size = rq.take_size(draw.subject)
        if not rp.words(subject):
            return self._answer('Tell me what to draw, e.g. "draw a fox in the snow".')
        subject = rq.clean_subject(subject)
        parts = rp.expand(subject, req.profile)
        # Cues are generic per kind of subject; none may contradict what the user said
        # ("golden hour" for "an orange sun in a blue sky", "centered" for "at the top").
        stated = faithful.Stated.read(subject)
        parts.extras = [c for c in parts.extras if not faithful.contradiction(stated, c)]
        args: dict[str, Any] = {"prompt": parts.render(req.max_prompt_tokens, req.profile.style),
                                "n": draw.n}
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
        args: dict[str, Any] = {"prompt": edit.parts.render(req.max_prompt_tokens,
                                                            req.profile.style), "n": 1}
        if edit.keep_seed and last.seed is not None:
            args["seed"] = last.seed
        if edit.negative:
            args["negative_prompt"] = edit.negative
        return check_decision(Decision(tool=TOOL, args=args, backend=self.name), req)


def _previous_parts(last: HistoryItem) -> rp.PromptParts:
    if last.prompt.strip():
        return rp.PromptParts.parse(last.prompt)
    draw = rq.picture_request(rq.strip_filler(last.user_text)) or rq.Draw(last.user_text)
    return rp.expand(rq.clean_subject(draw.subject))


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
