"""Rewrites per brain backend: latency, faithfulness, and what they cost the demo model.

Latency: p50 / p95 over a fixed set of turns. Faithfulness: attribute retention and
contradictions on bench/data/rewrite_faithfulness.jsonl (207 labelled requests, English,
French, Spanish, German) for every engine prompt profile, against the rules rewriter with
its cues unchecked (as it was) and a cue-happy LLM stand-in before and after the run-time
check. Demo accuracy: the demo model's colour and background accuracy through the default
path (rules rewriter, demo profile, check) against `--raw`, same prompts and seeds.

    .venv/bin/python -m bench.rewrite                 # rules + stand-ins for the LLM backends
    .venv/bin/python -m bench.rewrite --model Qwen/Qwen2.5-0.5B-Instruct   # a real local model
    .venv/bin/python -m bench.rewrite --base-url http://localhost:11434/v1 --llm-model qwen2.5:1.5b

Without --model the transformers row uses the tiny in-code chat model (it measures the
plumbing: template, generate, parse, not a real model's speed); without --base-url the
openai row talks to a loopback fake server (HTTP round trip and parsing only).
Backends are built with `build_brain`, so LLM rows include the rules fallback as deployed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bot.llm.base import Brain, BrainRequest, HistoryItem  # noqa: E402
from bot.llm.factory import build_brain  # noqa: E402
from tests.support.llm_fakes import FakeChatServer, build_tiny_chat_model, tool_call_message  # noqa: E402

CAT = HistoryItem("draw me a cat on a skateboard",
                  "a cat on a skateboard, photograph, eye-level shot, natural light", 1234)
TURNS = [
    BrainRequest(text="draw me a cat on a skateboard"),
    BrainRequest(text="can you show me a lighthouse in a storm?"),
    BrainRequest(text="a watercolour of a heron at dawn"),
    BrainRequest(text="make 2 pictures of a cozy cabin in the woods"),
    BrainRequest(text="dessine-moi un chat noir sur une plage"),
    BrainRequest(text="now make it at night", history=[CAT]),
    BrainRequest(text="add a red hat", history=[CAT]),
    BrainRequest(text="without the skateboard", history=[CAT]),
    BrainRequest(text="more photorealistic", history=[CAT]),
    BrainRequest(text="what can you do?"),
    BrainRequest(text="thanks!"),
    BrainRequest(text="a fox in the snow", force_tool="generate_image"),
]
STAND_IN_REPLY = (
    '<tool_call> {"name": "generate_image", "arguments": {"prompt": '
    '"a cat riding skateboard at night", "seed": 42}} </tool_call>'
)


async def measure(brain: Brain, rounds: int) -> tuple[list[float], int, int]:
    """Latencies in ms, tool calls, fallbacks; one warm-up turn is not counted."""
    await brain.decide(TURNS[0])
    times: list[float] = []
    calls = fallbacks = 0
    for _ in range(rounds):
        for req in TURNS:
            start = time.perf_counter()
            decision = await brain.decide(req)
            times.append((time.perf_counter() - start) * 1000)
            calls += decision.tool is not None
            fallbacks += decision.fallback_reason is not None
    return times, calls, fallbacks


def row(name: str, times: list[float], calls: int, fallbacks: int, note: str) -> str:
    q = statistics.quantiles(times, n=100, method="inclusive")
    return (f"{name:<13} {len(times):>6} {q[49]:>9.2f} {q[94]:>9.2f} {calls:>6} {fallbacks:>9}"
            f"  {note}")


async def main(args: argparse.Namespace) -> None:
    print(f"rewrite latency over {len(TURNS)} fixed turns (ms; warm, sequential)")
    print(f"{'backend':<13} {'turns':>6} {'p50':>9} {'p95':>9} {'tools':>6} {'fallbacks':>9}")
    rules = build_brain("rules")
    medians: dict[str, float] = {}
    times, calls, fallbacks = await measure(rules, args.rules_rounds)
    medians["rules"] = statistics.median(times)
    print(row("rules", times, calls, fallbacks, "offline rules"))

    with tempfile.TemporaryDirectory() as tmp:
        model, note = args.model, f"model {args.model}"
        if model is None:
            model = str(build_tiny_chat_model(Path(tmp) / "tiny", reply=STAND_IN_REPLY))
            note = "tiny in-code stand-in model (plumbing only)"
        brain = await asyncio.to_thread(build_brain, "transformers", model=model)
        try:
            times, calls, fallbacks = await measure(brain, args.llm_rounds)
            medians["transformers"] = statistics.median(times)
            print(row("transformers", times, calls, fallbacks, note))
        finally:
            await brain.aclose()

    if args.base_url:
        brain = build_brain("openai", model=args.llm_model, base_url=args.base_url,
                            api_key=args.api_key)
        try:
            print(row("openai", *await measure(brain, args.llm_rounds), args.base_url))
        finally:
            await brain.aclose()
    else:
        server = FakeChatServer(tool_call_message("generate_image", {"prompt": "a cat, photo"}))
        async with server.running() as url:
            brain = build_brain("openai", model="tiny", base_url=url, api_key="sk-bench")
            try:
                times, calls, fallbacks = await measure(brain, args.openai_rounds)
                medians["openai"] = statistics.median(times)
                print(row("openai", times, calls, fallbacks,
                          "loopback fake server (HTTP + parsing only)"))
            finally:
                await brain.aclose()
    await share_of_image_turn(medians)
    await faithfulness()
    if not args.no_demo:
        await demo_accuracy(args.demo_cases)


def _naive_llm_prompt(text: str) -> str:
    """What a generic prompt-enhancer LLM writes: the request, then its favourite cues."""
    return f"{text}, photograph, golden hour, centered composition, cinematic, sepia tones"


async def faithfulness() -> None:
    from aiohttp import web

    from bot.llm import faithful_eval as fe
    from bot.llm import rules_prompt as rp
    from bot.llm import rules_request as rq
    from bot.llm.checked import FaithfulBrain
    from bot.llm.profiles import DEMO, OPENAI_IMAGES, SD, SD_TURBO, SENTENCES
    from tests.support.llm_fakes import completion

    rows = fe.load()
    langs = sorted({r.lang for r in rows})
    print(f"\nfaithfulness on {len(rows)} labelled requests ({', '.join(langs)}): attributes "
          "retained, and prompts' clauses contradicting one")
    print(f"{'rewriter':<34} {'profile':<17} {'retained':>9} {'contradictions':>15}")

    def show(name: str, profile: str, score: fe.Score) -> None:
        print(f"{name:<34} {profile:<17} {score.retention:>9.1%} {score.contradictions:>15d}")

    unchecked = fe.Score()  # the rules rewriter before this check: every cue of the category
    for r in rows:
        unchecked.add(fe.score(r, rp.expand(rq.request_subject(r.text)).render(77)))
    show("rules, cues unchecked (before)", SD.name, unchecked)
    rules = FaithfulBrain(build_brain("rules"))
    for profile in (SD, SD_TURBO, SENTENCES, OPENAI_IMAGES, DEMO):
        total = fe.Score()
        for r in rows:
            d = await rules.decide(BrainRequest(text=r.text, force_tool="generate_image",
                                                profile=profile,
                                                max_prompt_tokens=profile.max_tokens))
            total.add(fe.score(r, d.args["prompt"]))
        show("rules (as deployed)", profile.name, total)
    print(f"  prompts the run-time check had to repair for rules: {rules.repairs}")

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        text = body["messages"][-1]["content"]
        call = {"role": "assistant", "content": None, "tool_calls": [{
            "id": "call_0", "type": "function", "function": {
                "name": "generate_image",
                "arguments": json.dumps({"prompt": _naive_llm_prompt(text)})}}]}
        return web.json_response(completion(call, body.get("model", "")))

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    llm = FaithfulBrain(build_brain("openai", model="naive", base_url=f"http://127.0.0.1:{port}/v1"))
    before, after = fe.Score(), fe.Score()
    try:
        for r in rows:
            before.add(fe.score(r, _naive_llm_prompt(rq.request_subject(r.text))))
            d = await llm.decide(BrainRequest(text=r.text, force_tool="generate_image"))
            after.add(fe.score(r, d.args["prompt"]))
    finally:
        await llm.aclose()
        await runner.cleanup()
    show("cue-happy LLM stand-in, unchecked", SD.name, before)
    show("cue-happy LLM stand-in, checked", SD.name, after)
    print(f"  prompts the run-time check repaired for the LLM: {llm.repairs} of {len(rows)}")


async def demo_accuracy(n: int) -> None:
    """Colour and background accuracy of the demo model: --raw captions against the same
    captions through the default path, and through a cue-adding (SD) profile."""
    import numpy as np
    from transformers.utils import logging as transformers_logging

    from bot.llm.checked import FaithfulBrain
    from bot.llm.profiles import DEMO, SD
    from imaging.demo import default_model_dir, recommended_settings
    from imaging.demo.evaluate import _generate, make_cases
    from imaging.demo.measure import measure
    from imaging.demo.model import load_demo_pipeline

    transformers_logging.set_verbosity_error()  # the SD-cue prompts overflow its 32 tokens
    path = default_model_dir()
    settings = recommended_settings(path)
    pipe = await asyncio.to_thread(load_demo_pipeline, path)
    cases = make_cases("train", n, 1234) + make_cases("heldout", n, 1234)
    brain = FaithfulBrain(build_brain("rules"))

    async def rewrite(profile) -> list[str]:  # noqa: ANN001
        out = []
        for c in cases:
            d = await brain.decide(BrainRequest(text=c.prompt, force_tool="generate_image",
                                                profile=profile,
                                                max_prompt_tokens=profile.max_tokens))
            out.append(d.args["prompt"])
        return out

    print(f"\ndemo model accuracy, {len(cases)} captions (half held-out pairs), same seeds:")
    print(f"{'prompts':<38} {'colour':>7} {'background':>11} {'changed':>8}")
    seeds = [1234 + i for i in range(len(cases))]
    raw = [c.prompt for c in cases]
    for name, prompts in (("--raw", raw), ("default path (rules, demo profile)",
                                            await rewrite(DEMO)),
                          ("rules with SD cues (not for demo)", await rewrite(SD))):
        images = await asyncio.to_thread(
            _generate, pipe, prompts, seeds, int(settings.get("steps", 4)),
            float(settings.get("guidance_scale", 0.0)),
            rescale=float(settings.get("guidance_rescale", 0.0)))
        measured = [measure(im) for im in images]
        colour = np.mean([m.colour == c.scene.things[0].colour
                          for m, c in zip(measured, cases, strict=True)])
        background = np.mean([m.background == c.scene.background
                              for m, c in zip(measured, cases, strict=True)])
        changed = sum(p != r for p, r in zip(prompts, raw, strict=True))
        print(f"{name:<38} {colour:>7.1%} {background:>11.1%} {changed:>8d}")


async def share_of_image_turn(medians: dict[str, float]) -> None:
    """Rewriting's share of an image turn: rewrite p50 against a generation with the
    demo model at its native size and steps (measured here, median of 5)."""
    from imaging.demo import default_model_dir
    from imaging.engine import ImageRequest
    from imaging.engines.diffusers import DiffusersEngine

    engine = DiffusersEngine.load(str(default_model_dir()), device="cpu")
    w, h = engine.default_size
    req = ImageRequest("a red fox in the snow", width=w, height=h, steps=engine.default_steps,
                       guidance_scale=engine.guidance_scale)
    engine.generate([req])  # warm-up
    gen: list[float] = []
    for i in range(5):
        start = time.perf_counter()
        engine.generate([ImageRequest(req.prompt, width=w, height=h, steps=req.steps,
                                      guidance_scale=req.guidance_scale, seed=i)])
        gen.append((time.perf_counter() - start) * 1000)
    g = statistics.median(gen)
    print(f"\nshare of an image turn spent rewriting (demo model, {w}x{h}, "
          f"{engine.default_steps} steps: {g:.0f} ms per image):")
    for name, m in medians.items():
        print(f"  {name:<13} {m:8.2f} ms  → {100 * m / (m + g):5.2f}% of the turn")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="local folder or hub id for the transformers row")
    p.add_argument("--base-url", help="OpenAI-compatible base URL, e.g. http://host:8000/v1")
    p.add_argument("--llm-model", default="qwen2.5:1.5b", help="model name for --base-url")
    p.add_argument("--api-key", default=os.environ.get("EASEL_LLM_API_KEY"))
    p.add_argument("--rules-rounds", type=int, default=50)
    p.add_argument("--llm-rounds", type=int, default=3)
    p.add_argument("--openai-rounds", type=int, default=20)
    p.add_argument("--no-demo", action="store_true", help="skip the demo-model accuracy run")
    p.add_argument("--demo-cases", type=int, default=100, help="captions per split")
    return p.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(parse_args(sys.argv[1:])))
