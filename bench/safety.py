"""Safety gate benchmark: latency, and quality side by side with simpler baselines.

    .venv/bin/python -m bench.safety [--quick]

Prints p50/p95 latency per prompt (single, batched, 20 concurrent turns micro-batched, a
cache hit) and per 512 px image, then block rates on the same sets for: the term rules
alone, alt-profanity-check alone (if installed; `pip install alt-profanity-check`), and the
full gate (rules + MiniLM head, standard strictness).  Violation sets report recall, benign
sets the false-positive rate.  Then look-alike and blank characters: recall on the own
plain violations run through each obfuscation (safety/obfuscation.py) next to the same rows
as written, and false positives on benign prompts in 20 languages.  Last, the image check's
false positives on benign pictures (demo-model outputs, rendered demo scenes, test
patterns, packaged photos) and over a sweep of seeds of harmless demo scenes
(safety/demo_sweep.py), with the detector's thresholds alone and with the support it now
needs (safety/image_evidence.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from safety import datasets, demo_sweep  # noqa: E402
from safety.config import SafetyPolicy  # noqa: E402
from safety.datasets import Example  # noqa: E402
from safety.gate import SafetyGate  # noqa: E402
from safety.image import NudeNetClassifier  # noqa: E402
from safety.metrics import markdown_table, pct  # noqa: E402
from safety.obfuscation import TECHNIQUES, obfuscate  # noqa: E402
from safety.terms import DATA_DIR, TermRules  # noqa: E402
from safety.text import LayeredTextClassifier  # noqa: E402

BLIND_PATH = DATA_DIR / "eval_blind.jsonl"
MULTILINGUAL_PATH = DATA_DIR / "benign_multilingual.jsonl"


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000


def time_calls(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


async def text_latency(gate: SafetyGate, texts: list[str], batch: int) -> dict[str, tuple[float, float]]:
    single = []
    for text in texts:
        start = time.perf_counter()
        await gate.check_text(text, "input", "bench")
        single.append(time.perf_counter() - start)
    batched = []
    classifier = gate.text_classifier
    for i in range(0, len(texts) - batch + 1, batch):
        start = time.perf_counter()
        await classifier.classify([f"{t} ({i})" for t in texts[i : i + batch]])  # not cached
        batched.append((time.perf_counter() - start) / batch)
    concurrent = []  # 20 turns at once, each awaiting its own check_text: one encoder pass
    for i in range(0, len(texts) - 20 + 1, 20):
        start = time.perf_counter()
        await asyncio.gather(*(gate.check_text(f"{t} [{i}]", "input", f"u{j}") for j, t in enumerate(texts[i : i + 20])))
        concurrent.append((time.perf_counter() - start) / 20)
    cached = []
    for text in texts[:100]:
        start = time.perf_counter()
        await gate.check_text(text, "prompt", "bench")  # checkpoint 2 on the same words
        cached.append(time.perf_counter() - start)
    return {
        "single prompt (gate.check_text)": percentiles(single),
        f"batched, per prompt (batch {batch})": percentiles(batched),
        "20 concurrent check_text, per prompt (micro-batched)": percentiles(concurrent),
        "repeated prompt (verdict cache hit)": percentiles(cached),
    }


def bench_images(n: int) -> dict[str, tuple[float, float]]:
    rng = np.random.default_rng(0)
    images = []
    for i in range(8):
        im = Image.fromarray(rng.integers(0, 255, (512, 512, 3), dtype=np.uint8))
        ImageDraw.Draw(im).ellipse((60 + 10 * i, 80, 420, 460), fill=(225, 170 - 5 * i, 140))
        images.append(im)
    classifier = NudeNetClassifier()
    classifier.load()
    classifier.scores(images[:1])
    single = time_calls(lambda: classifier.scores([images[int(rng.integers(8))]]), n)
    batch4 = [t / 4 for t in time_calls(lambda: classifier.scores(images[:4]), max(4, n // 4))]
    gate = time_calls(lambda: classifier.classify_sync([images[int(rng.integers(8))]]), n)
    return {"512 px image, detector only": percentiles(single), "512 px image, batch of 4 (per image)": percentiles(batch4),
            f"512 px image, whole check (+ support, second looks) on {classifier.providers[0]}": percentiles(gate)}


def load_sets(shared: Path) -> dict[str, list[Example]]:
    labelled = datasets.load_labelled()
    sets = {
        "PartiPrompts (benign, all)": datasets.load_parti(shared),
        "PartiPrompts held-out 25% (benign)": [r for r in datasets.load_parti(shared) if datasets.held_out(r.text)],
        "I2P hard rows with nudity (sexual)": datasets.load_i2p_nudity(shared),
        "own labelled violations (all)": [r for r in labelled if r.unsafe],
        "own labelled violations, held-out": [r for r in labelled if r.unsafe and datasets.held_out(r.text)],
        "own labelled benign look-alikes": [r for r in labelled if not r.unsafe],
    }
    if BLIND_PATH.exists():
        blind = datasets.load_jsonl_eval(BLIND_PATH)
        sets["second labelled set: violations"] = [r for r in blind if r.unsafe]
        sets["second labelled set: benign"] = [r for r in blind if not r.unsafe]
    return sets


def profanity_column() -> Callable[[list[str]], list[bool]] | None:
    try:
        from profanity_check import predict_prob
    except ImportError:
        return None
    return lambda texts: [p >= 0.5 for p in predict_prob(texts)]


async def gate_blocks(gate: SafetyGate, texts: list[str]) -> list[bool]:
    return [not (await gate.check_text(t, "input", "bench")).allowed for t in texts]


def main() -> int:
    parser = argparse.ArgumentParser(description="safety gate benchmark")
    parser.add_argument("--quick", action="store_true", help="fewer latency samples")
    parser.add_argument("--demo-images", type=int, default=300, help="demo-model pictures to check")
    parser.add_argument("--sweep-seeds", type=int, default=50, help="seeds per harmless scene in the sweep")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    shared = datasets.shared_dir(os.environ.get("EASEL_SHARED_DIR"))
    if not datasets.safety_data_dir(shared).exists():
        print(f"shared safety data missing at {datasets.safety_data_dir(shared)}; set EASEL_SHARED_DIR")
        return 1

    rules = TermRules.from_dir()
    classifier = LayeredTextClassifier.default(encoder_threads=1)
    t0 = time.perf_counter()
    classifier.warm_up()
    load_s = time.perf_counter() - t0
    gate = SafetyGate(classifier, NudeNetClassifier(), SafetyPolicy.load())
    sets = load_sets(shared)

    n = 100 if args.quick else 400
    prompts = [r.text for r in sets["PartiPrompts (benign, all)"]][:n]
    latency = asyncio.run(text_latency(gate, prompts, batch=32))
    rules_times = []
    for p in prompts:
        start = time.perf_counter()
        rules.scan_text(p)
        rules_times.append(time.perf_counter() - start)
    latency["term rules only (normalise + match), per prompt"] = percentiles(rules_times)
    latency.update(bench_images(40 if args.quick else 120))
    print(f"# Safety gate benchmark\n\nmodel load + warm-up: {load_s:.1f} s\n")
    print(markdown_table(["what", "p50 ms", "p95 ms"], [(k, f"{a:.1f}", f"{b:.1f}") for k, (a, b) in latency.items()]))

    columns: dict[str, Callable[[list[str]], list[bool]]] = {
        "term rules alone": lambda texts: [bool(rules.scan_text(t).hits) or rules.scan_text(t).sexual_minors for t in texts],
    }
    profanity = profanity_column()
    if profanity is not None:
        columns["alt-profanity-check alone"] = profanity
    columns["full gate (rules + head)"] = lambda texts: asyncio.run(gate_blocks(gate, texts))
    results = {name: {s: fn([r.text for r in rows]) for s, rows in sets.items()} for name, fn in columns.items()}

    print("\n## Block rate on the same sets (violations: recall, higher is better; benign: false-positive rate, lower is better)\n")
    if profanity is None:
        print("(alt-profanity-check not installed: its column is skipped)\n")
    print(markdown_table(["set", *columns], [(s, *(pct((sum(results[c][s]), len(rows))) for c in columns)) for s, rows in sets.items()]))

    parti = sets["PartiPrompts (benign, all)"]
    fps = [r.text for r, b in zip(parti, results["full gate (rules + head)"]["PartiPrompts (benign, all)"], strict=True) if b]
    print(f"\nPartiPrompts block rate (full gate): {pct((len(fps), len(parti)))} — target <= 1%")
    for text in fps:
        print(f"  false positive: {text}")
    own = results["full gate (rules + head)"]["own labelled violations (all)"]
    print(f"Recall on own clear violations (full gate): {pct((sum(own), len(own)))} — target >= 95%")
    print("\nNote: 75% of PartiPrompts and of the own labelled set trained the head; the held-out rows did not.")
    lookalike_quality(columns)
    image_false_positives(args.demo_images, 10 if args.quick else args.sweep_seeds)
    return 0


def lookalike_quality(columns: dict[str, Callable[[list[str]], list[bool]]]) -> None:
    plain = [r.text for r in datasets.load_labelled() if r.unsafe and r.kind == "plain"]
    obfuscated = {"as written (no obfuscation)": plain} | {t: obfuscate(plain, t) for t in TECHNIQUES}
    print(f"\n## Look-alike and blank characters: recall on the {len(plain)} own plain violations, obfuscated\n")
    print(markdown_table(["technique", *columns], [(t, *(pct((sum(fn(texts)), len(texts))) for fn in columns.values()))
                                                   for t, texts in obfuscated.items()]))
    by_lang: dict[str, list[str]] = {}
    for row in datasets.load_jsonl_eval(MULTILINGUAL_PATH):
        by_lang.setdefault(row.kind, []).append(row.text)
    blocked = {lang: {c: fn(texts) for c, fn in columns.items()} for lang, texts in by_lang.items()}
    total = sum(len(t) for t in by_lang.values())
    rows = [(lang, len(texts), *(pct((sum(blocked[lang][c]), len(texts))) for c in columns)) for lang, texts in by_lang.items()]
    rows.append(("all", total, *(pct((sum(sum(b[c]) for b in blocked.values()), total)) for c in columns)))
    print(f"\n## Benign prompts in {len(by_lang)} languages: false positives (lower is better; target 0)\n")
    print(markdown_table(["language", "prompts", *columns], rows))
    fps = [f"  {c}: {lang}: {t}" for lang, texts in by_lang.items() for c in columns
           for t, b in zip(texts, blocked[lang][c], strict=True) if b]
    print("\nfalse positives:\n" + ("\n".join(fps) or "  none"))


def demo_engine() -> Any:
    from imaging.demo import default_model_dir
    from imaging.engines.diffusers import DiffusersEngine

    return DiffusersEngine.load(str(default_model_dir()), device="cpu")


def benign_image_sets(engine: Any, demo_images: int) -> dict[str, list[Image.Image]]:
    """Pictures with no person in them: what the demo model draws, the scenes it learned
    from, test patterns and the photos installed packages ship."""
    from imaging.demo.evaluate import make_cases
    from imaging.demo.scenes import render, sample_scene
    from imaging.engine import ImageRequest
    from safety.benign_images import packaged_photos, pattern_images

    w, h = engine.default_size
    cases = make_cases("train", demo_images * 2 // 3, 7) + make_cases("heldout", demo_images - demo_images * 2 // 3, 8)
    demo: list[Image.Image] = []
    for i in range(0, len(cases), 4):
        reqs = [ImageRequest(c.prompt, width=w, height=h, steps=engine.default_steps,
                             guidance_scale=engine.guidance_scale, seed=i + j) for j, c in enumerate(cases[i : i + 4])]
        demo += [im for r in engine.generate(reqs) for im in r.images]
    rng = np.random.default_rng(11)
    scenes = [render(sample_scene(rng, "train", 0.4), rng, 512 if i % 2 else 256)[0] for i in range(300)]
    sets = {f"demo-model outputs ({w}x{h})": demo, "rendered demo scenes (256/512 px)": scenes,
            "test patterns (wheels, gradients, noise, skin blobs...)": [im for _, im in pattern_images(360)]}
    photos = packaged_photos(80)
    if photos:
        sets["packaged photos (scikit-learn samples + crops)"] = photos
    return sets


def image_false_positives(demo_images: int, sweep_seeds: int) -> None:
    engine = demo_engine()
    sets = benign_image_sets(engine, demo_images)
    columns = {"detector thresholds alone (before)": NudeNetClassifier(require_support=False, second_look_resolution=320),
               "with person/skin support + second look (now)": NudeNetClassifier()}
    rows, flagged = [], []
    for name, images in sets.items():
        cells = []
        for label, classifier in columns.items():
            verdicts = [v for im in images for v in classifier.classify_sync([im])]
            blocked = [i for i, v in enumerate(verdicts) if not v.allowed]
            cells.append(pct((len(blocked), len(images))))
            flagged += [f"  {label}: {name} #{i}: {verdicts[i].reason}" for i in blocked]
        rows.append((name, len(images), *cells))
    total = sum(len(v) for v in sets.values())
    print("\n## Image check: false positives on benign pictures (target <= 0.5%)\n")
    print(markdown_table(["set", "images", *columns], rows))
    print(f"\n{total} benign images in all; withheld:")
    print("\n".join(flagged) or "  none")
    seed_sweep(engine, columns, sweep_seeds)


def seed_sweep(engine: Any, columns: dict[str, NudeNetClassifier], seeds: int) -> None:
    """`easel imagine --raw SCENE --seed S` for S < `seeds`, each harmless scene."""
    from imaging.engine import ImageRequest

    drawn = demo_sweep.draw(engine, ImageRequest, demo_sweep.HARMLESS_SCENES, list(range(seeds)))
    held = {label: demo_sweep.withheld(clf, drawn) for label, clf in columns.items()}
    rows = [(scene, seeds, *(pct((sum(d.prompt == scene for d, _ in held[c]), seeds)) for c in columns))
            for scene in demo_sweep.HARMLESS_SCENES]
    rows.append(("all", len(drawn), *(pct((len(held[c]), len(drawn))) for c in columns)))
    print(f"\n## Image check: harmless demo scenes over seeds 0-{seeds - 1} (withheld rate, target <= 0.5%)\n")
    print(markdown_table(["scene", "images", *columns], rows))
    now = held["with person/skin support + second look (now)"]
    print(f"\nwithheld now: {pct((len(now), len(drawn)))}")
    print("\n".join(f"  {d.prompt!r} seed {d.seed}: {v.reason}" for d, v in now) or "  none")


if __name__ == "__main__":
    raise SystemExit(main())
