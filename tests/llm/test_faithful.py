"""Rewrites keep what the user said and contradict none of it, in every backend."""

from __future__ import annotations

import logging

import pytest

from bot.llm import faithful
from bot.llm import faithful_eval as fe
from bot.llm.base import BrainRequest, Decision, HistoryItem
from bot.llm.checked import FaithfulBrain
from bot.llm.common import system_message
from bot.llm.profiles import DEMO, OPENAI_IMAGES, SD, SD_TURBO, SENTENCES, profile_for
from bot.llm.rules import RulesBrain

PROFILES = (SD, SD_TURBO, SENTENCES, OPENAI_IMAGES, DEMO)


def _draw(text: str, profile=SD) -> str:
    req = BrainRequest(text=text, force_tool="generate_image", profile=profile,
                       max_prompt_tokens=profile.max_tokens)
    return RulesBrain().decide_now(req).args["prompt"]


def test_the_reported_rewrites_no_longer_contradict_the_user():
    sun = _draw("an orange sun in a blue sky")
    assert sun.startswith("an orange sun in a blue sky")
    assert not any(w in sun for w in ("golden hour", "sunset", "dusk", "night"))
    # The demo model only knows its captions: nothing is added that could change it.
    assert _draw("a green fish on a navy blue background", DEMO) == \
        "a green fish on a navy blue background"
    assert "centered" not in _draw("a red cup at the top on a blue background")
    heron = _draw("a watercolour of a heron at dawn")
    assert "photograph" not in heron and "depth of field" not in heron


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_rules_keep_every_labelled_attribute_and_contradict_none(profile):
    total = fe.Score()
    for row in fe.load():
        total.add(fe.score(row, _draw(row.text, profile)))
    assert total.attributes > 400 and len(fe.load()) >= 200
    assert (total.retention, total.contradictions) == (1.0, 0), total.failures[:5]


def test_the_scorer_sees_what_unchecked_cues_did():
    row = fe.Row("an orange sun in a blue sky", "en",
                 {"subject": ["sun"], "colour": ["orange", "blue"], "time": ["blue", "sky"]})
    bad = fe.score(row, "an orange sun in a blue sky, landscape photograph, golden hour")
    assert bad.contradictions == 1 and bad.retention == 1.0
    assert fe.score(row, "a sun, golden hour").retention < 1.0


@pytest.mark.parametrize("said,clause,why", [
    ("a fox under a blue sky", "golden hour", "golden light"),
    ("a lighthouse at noon", "at sunset", "golden light"),
    ("a watercolour of a fox", "shallow depth of field", "photographic cues"),
    ("a photo of a fox", "oil painting", "painted or drawn"),
    ("a beach on a sunny day", "at night", "night light"),
    ("a beach on a sunny day", "in the rain", "rain weather"),
    ("a red cup at the top", "centered composition", "centred"),
    ("a green fish on a navy blue background", "sepia tones", "colours"),
    ("a cat in a kitchen", "plain background", "plain backdrop"),
])
def test_contradictions_are_named(said, clause, why):
    assert why in (faithful.contradiction(faithful.Stated.read(said), clause) or "")


@pytest.mark.parametrize("said,clause", [
    ("a fox in the snow on a sunny day", "bright daylight"),  # snow under sun is fine
    ("a fox at sunset", "warm golden light"),
    ("a cat on a white background", "plain background"),  # what they asked for
    ("a cat", "golden hour"),  # nothing stated to contradict
])
def test_agreeing_cues_pass(said, clause):
    assert faithful.contradiction(faithful.Stated.read(said), clause) is None


class Scripted:
    """An LLM backend whose next decision the test writes (its wire is tested elsewhere)."""

    name = "scripted"

    def __init__(self, prompt: str, seed: int | None = None) -> None:
        self.prompt, self.seed = prompt, seed

    async def decide(self, req: BrainRequest) -> Decision:
        args = {"prompt": self.prompt} | ({"seed": self.seed} if self.seed is not None else {})
        return Decision(tool="generate_image", args=args, backend=self.name)

    async def aclose(self) -> None:
        pass


async def test_an_llm_rewrite_is_repaired_and_the_log_says_why(caplog):
    brain = FaithfulBrain(Scripted("an orange sun, photograph, golden hour, centered, sepia"))
    with caplog.at_level(logging.INFO, logger="bot.llm.checked"):
        d = await brain.decide(BrainRequest(text="draw an orange sun in a blue sky at the top"))
    prompt = d.args["prompt"]
    assert prompt.startswith("an orange sun in a blue sky at the top")  # the lost words back
    assert not any(w in prompt for w in ("golden hour", "centered", "sepia"))
    assert "photograph" in prompt  # a cue that contradicts nothing stays
    assert d.repaired and "missing" in d.repaired and "contradiction" in d.repaired
    assert "scripted rewrite repaired" in caplog.text and brain.repairs == 1


async def test_a_faithful_llm_rewrite_is_left_alone():
    brain = FaithfulBrain(Scripted("a tabby cat riding a skateboard, low angle, dusk light"))
    d = await brain.decide(BrainRequest(text="draw me a cat on a skateboard"))
    assert d.args["prompt"] == "a tabby cat riding a skateboard, low angle, dusk light"
    assert d.repaired is None and brain.repairs == 0


async def test_a_follow_up_is_checked_for_contradictions_only():
    last = HistoryItem("a fox in the snow", "a fox in the snow, photograph, natural light", 7)
    brain = FaithfulBrain(Scripted("a fox in the snow, at night, moonlight, golden hour", seed=7))
    d = await brain.decide(BrainRequest(text="now make it at night", history=[last]))
    assert d.args["prompt"] == "a fox in the snow, at night, moonlight"  # golden hour went
    assert d.args["seed"] == 7


def test_each_engine_gets_its_profile_and_llms_are_told():
    assert profile_for("/models/easel-demo", demo=True) is DEMO
    assert profile_for("stabilityai/sd-turbo") is SD_TURBO
    assert profile_for("stabilityai/stable-diffusion-xl-base-1.0") is SD
    assert profile_for("black-forest-labs/FLUX.1-schnell") is SENTENCES
    assert profile_for("dall-e-3").rewrites_itself and profile_for("gpt-image-1").style == \
        "sentences"
    demo = system_message(BrainRequest(text="x", profile=DEMO), "RULES")
    assert demo.startswith("RULES") and "add nothing else" in demo
    assert "comma-separated tags" in system_message(BrainRequest(text="x", profile=SD_TURBO), "")
    assert _draw("a fox in the snow", SENTENCES).endswith(".")
    assert len(_draw("a fox in the snow", SD_TURBO)) < len(_draw("a fox in the snow", SD))
