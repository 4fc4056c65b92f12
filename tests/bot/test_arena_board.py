"""The board rendered: chat table, `GET /arena` page (real loopback server), the CLI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import aiohttp
import numpy as np
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.arena.board import arena_page, board_html, board_svg, board_text
from bot.arena.model import Battle, Choice
from bot.arena.ratings import build_board
from bot.arena.store import MemoryArenaStore, journal_path
from tests.support.arena_simulate import simulate

EVIL = '<script>alert("x")</script>&co'
TRUE = {"demo-8": 1100.0, "demo": 1000.0, EVIL: 900.0}


def _board(category: str | None = None):
    return build_board(simulate(TRUE, 300, np.random.default_rng(3)), category=category,
                       rounds=100, rng=np.random.default_rng(0))


def test_the_chat_table_is_short_and_aligned():
    text = board_text(_board(), limit=2)
    lines = text.splitlines()
    assert lines[0].startswith("Arena board — all prompts · 300 battles · 300 votes")
    assert "left image wins" in lines[0]
    assert lines[1].split() == ["#", "entry", "score", "95%", "CI", "battles"]
    assert lines[2].split()[:2] == ["1", "demo-8"]
    assert len({len(line) for line in lines[1:4]}) == 1  # header and rows line up
    assert lines[4] == "… and 1 more"
    assert "no votes yet" in board_text(build_board([], rounds=10))


def test_the_svg_is_well_formed_and_escapes_names():
    svg = board_svg(_board())
    root = ET.fromstring(svg)  # parses: nothing unescaped broke the markup
    assert root.tag.endswith("svg")
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any(t and t.startswith("<script>") for t in texts)  # shown as text, not markup
    assert len(list(root.iter("{http://www.w3.org/2000/svg}circle"))) == 3
    assert "<script>" not in svg


def test_the_page_escapes_names_and_needs_no_external_assets():
    page = board_html(_board(), categories=["animal", 'say "hi"'])
    assert "<svg" in page and "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;co" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page
    assert "prefers-color-scheme: dark" in page
    assert 'href="?category=say%20%22hi%22"' in page


async def _serve(store) -> tuple[TestServer, str]:
    app = web.Application()
    app.router.add_get("/arena", arena_page(store, rounds=100))
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return server, str(server.make_url("/arena"))


async def test_the_page_handler_serves_the_board_per_category(tmp_path: Path):
    store = await MemoryArenaStore.open(tmp_path / "arena.jsonl")
    for n, bv in enumerate(simulate(TRUE, 60, np.random.default_rng(1))):
        b = bv.battle
        battle = Battle.new(conversation_id="c", prompt="p",
                            category="animal" if n % 2 else "landscape",
                            entry_a=b.entry_a, entry_b=b.entry_b, now=float(n))
        await store.save_battle(battle)
        await store.record_vote(battle.id, "u", bv.votes[0].choice)
    hidden = Battle.new(conversation_id="c", prompt="p", category="animal",
                        entry_a="withheld-only", entry_b="demo")
    await store.save_battle(hidden)
    await store.record_vote(hidden.id, "u", Choice.A)
    await store.void_battle(hidden.id, "the gate withheld image A")

    server, url = await _serve(store)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url) as r:
                assert r.status == 200 and r.content_type == "text/html"
                page = await r.text()
            async with s.get(url, params={"category": "animal"}) as r:
                animal = await r.text()
            async with s.get(url, params={"category": "<b>nothing</b>"}) as r:
                nothing = await r.text()
    finally:
        await server.close()
    assert "<svg" in page and "60 battles" in page and "1 void" in page
    assert "&lt;script&gt;" in page and "<script" not in page
    assert "withheld-only" not in page  # a void battle stays off the board
    assert "category animal · 30 battles" in animal
    assert 'class=on>animal</a>' in animal
    assert "No votes yet" in nothing and "&lt;b&gt;nothing&lt;/b&gt;" in nothing


async def test_the_page_says_so_when_nobody_has_voted(tmp_path: Path):
    server, url = await _serve(await MemoryArenaStore.open(None))
    try:
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            page = await r.text()
    finally:
        await server.close()
    assert r.status == 200 and "No votes yet" in page and "<svg" not in page


def _fill_journal(data_dir: Path) -> None:
    import asyncio

    async def fill() -> None:
        store = await MemoryArenaStore.open(journal_path(data_dir))
        for n, bv in enumerate(simulate(TRUE, 120, np.random.default_rng(2), category="animal")):
            b = bv.battle
            battle = Battle.new(conversation_id="c", prompt="p", category=b.category,
                                entry_a=b.entry_a, entry_b=b.entry_b, now=float(n))
            await store.save_battle(battle)
            await store.record_vote(battle.id, "u", bv.votes[0].choice)

    asyncio.run(fill())


def test_the_cli_prints_the_board_as_json(monkeypatch, tmp_path: Path, capsys):
    from bot.app.cli import build_parser

    _fill_journal(tmp_path / "data")
    monkeypatch.delenv("EASEL_REDIS_URL", raising=False)
    monkeypatch.setenv("EASEL_DATA_DIR", str(tmp_path / "data"))
    args = build_parser().parse_args(["arena", "board", "--json", "--category", "animal"])
    assert args.func(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["category"] == "animal" and data["battles"] == 120
    assert data["bootstrap_rounds"] == 1000
    assert [e["name"] for e in data["entries"]][0] == "demo-8"
    for e in data["entries"]:
        assert {"name", "score", "ci_low", "ci_high", "rank", "battles"} <= set(e)
        assert isinstance(e["score"], float) and isinstance(e["rank"], int)

    args = build_parser().parse_args(["arena", "board", "--category", "landscape"])
    assert args.func(args) == 0
    assert "no votes yet" in capsys.readouterr().out

    args = build_parser().parse_args(["arena", "board"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("Arena board — all prompts · 120 battles") and "demo-8" in out
