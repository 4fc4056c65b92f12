"""The arena in the chat, on the real app: a battle, votes (buttons and typed), the board
in chat and at GET /arena, a void battle when the gate withholds a picture, and
`/settings arena=on`."""

from __future__ import annotations

import json

from safety.policy import Category, Verdict
from tests.support.helpers import final_reply, web_chat, web_session


async def _chat(s, url: str, text: str, reference: str | None = None) -> dict:
    return final_reply(await web_chat(s, url, text, reference=reference))


_session = web_session


async def test_a_full_battle_in_the_web_chat(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    async with _session() as ada, _session() as bob:
        for s in (ada, bob):
            await (await s.get(running.url + "/")).release()
        battle = await _chat(ada, running.url, "/arena a red apple on a blue table")
        assert battle["kind"] == "images" and battle["battle_id"], battle
        assert len(battle["images"]) == 2 and all(i["seed"] is None for i in battle["images"])
        assert "demo" not in json.dumps(battle)  # the names stay hidden until the vote
        # The page's button sends `/vote a` with the battle as its reference.
        vote = await _chat(ada, running.url, "/vote a", battle["battle_id"])
        assert "your vote counts: A is better" in vote["text"]
        assert "was **demo**" in vote["text"] and "was **demo:raw**" in vote["text"]
        again = await _chat(ada, running.url, "/vote b")  # typed: the latest battle here
        assert "You already voted on this battle (a)" in again["text"]
        other = await _chat(bob, running.url, "/vote tie", battle["battle_id"])
        assert "your vote counts: a tie" in other["text"]

        board = await _chat(ada, running.url, "/arena board")
        assert board["text"].startswith("```") and "demo:raw" in board["text"]
        async with ada.get(running.url + "/arena") as resp:
            page = await resp.text()
        assert resp.status == 200 and "<svg" in page and "demo:raw" in page
    stored = await running.services.arena_store.list_battles()
    assert len(stored) == 1 and len(stored[0].votes) == 2


class WithholdAll:
    """An operator's extra image checker that flags every picture (as violence)."""

    async def classify(self, images):
        return [Verdict(allowed=False, category=Category.VIOLENCE, scores={"violence": 1.0})
                for _ in images]


async def test_a_withheld_picture_makes_the_battle_void(app_factory, settings_factory,
                                                        safety_gate):
    from safety.gate import SafetyGate

    gate = SafetyGate(safety_gate.text_classifier, WithholdAll(), safety_gate.policy,
                      safety_gate.audit)
    running = await app_factory(settings_factory(), gate=gate)
    async with _session() as s:
        await (await s.get(running.url + "/")).release()
        reply = await _chat(s, running.url, "/arena a yellow sun over the sea")
        assert reply["kind"] == "refusal" and "this battle is void" in reply["text"]
        assert not reply["images"]
        assert "no battle to vote on" in (await _chat(s, running.url, "/vote a"))["text"]
    [void] = await running.services.arena_store.list_battles()
    assert void.battle.state.value == "void" and not void.votes


async def test_arena_on_makes_every_fifth_picture_a_battle(app_factory, settings_factory):
    running = await app_factory(settings_factory())
    async with _session() as s:
        await (await s.get(running.url + "/")).release()
        assert "arena=on" in (await _chat(s, running.url, "/settings arena=on"))["text"]
        kinds = [bool((await _chat(s, running.url, f"/imagine a red kite {i}"))["battle_id"])
                 for i in range(5)]
    assert kinds == [False, False, False, False, True]
