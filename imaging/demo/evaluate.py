"""Evaluate a demo model from the pixels it makes (`python bench/demo_model.py`).

For prompts naming a colour, a thing, a position and a background, on colour x thing pairs
seen in training and on held-out pairs, it measures how often the picture has the object's
colour, the background, the shape (small CNN trained on the generator's renders) and the
position asked for; for "make it <colour>" edits, how often the colour moves to the one
asked for and how well the object's mask keeps its place (IoU); and seconds per picture.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imaging.demo.measure import (
    Measurement,
    build_shape_classifier,
    classify_shapes,
    iou,
    measure,
    train_shape_classifier,
)
from imaging.demo.scenes import Scene, Thing, _contrast_ok, caption, render, sample_scene
from imaging.demo.vocab import COLOURS, DATA_VERSION

Report = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Case:
    scene: Scene
    prompt: str


def make_cases(split: str, n: int, seed: int) -> list[Case]:
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    scenes = [sample_scene(rng, split, 0.0) for _ in range(n)]  # type: ignore[arg-type]
    return [Case(s, caption(s, rng, complete=True)) for s in scenes]


def shape_classifier(cache: Path | None = None) -> tuple[Any, float]:
    """The shape CNN, trained once per data version and cached (it takes minutes)."""
    import torch

    path = cache or Path(tempfile.gettempdir()) / f"easel-demo-shapes-v{DATA_VERSION}.pt"
    if path.is_file():
        state = torch.load(path, map_location="cpu")
        model = build_shape_classifier()
        model.load_state_dict(state["model"])
        return model.eval(), state["accuracy"]
    model, acc = train_shape_classifier()
    torch.save({"model": model.state_dict(), "accuracy": acc}, path)
    return model, acc


def _generate(pipe: Any, prompts: list[str], seeds: list[int], steps: int,
              guidance: float = 0.0, batch: int = 16, rescale: float = 0.0) -> list[Any]:
    import torch

    images: list[Any] = []
    for i in range(0, len(prompts), batch):
        gens = [torch.Generator().manual_seed(s) for s in seeds[i:i + batch]]
        with torch.inference_mode():
            out = pipe(prompt=prompts[i:i + batch], num_inference_steps=steps,
                       guidance_scale=guidance, guidance_rescale=rescale, generator=gens)
        images.extend(out.images)
    return images


def _score(cases: list[Case], measured: list[Measurement],
           shapes: list[str | None]) -> dict[str, float]:
    n = len(cases)
    things = [c.scene.things[0] for c in cases]
    return {
        "n": n,
        "colour": sum(m.colour == t.colour for m, t in zip(measured, things, strict=True)) / n,
        "background": sum(m.background == c.scene.background
                          for m, c in zip(measured, cases, strict=True)) / n,
        "shape": sum(s == t.shape for s, t in zip(shapes, things, strict=True)) / n,
        "position": sum(m.position == t.position
                        for m, t in zip(measured, things, strict=True)) / n,
        "object_found": sum(m.found for m in measured) / n,
    }


def _edit_target(thing: Thing, background: str, rng: np.random.Generator) -> str:
    choices = [c.name for c in COLOURS if c.name != thing.colour
               and _contrast_ok(c.name, background, thing.position, thing.size)]
    return choices[int(rng.integers(len(choices)))]


def evaluate_edits(pipe: Any, n: int, steps: int, guidance: float,
                   strengths: tuple[float, ...], seed: int, report: Report,
                   rescale: float = 0.0) -> dict[str, Any]:
    """Generate a source picture, then img2img it with its own caption recoloured, as a
    rewriter turns "make it red" into a prompt."""
    import torch
    from diffusers import AutoPipelineForImage2Image

    i2i = AutoPipelineForImage2Image.from_pipe(pipe)
    i2i.set_progress_bar_config(disable=True)
    rng = np.random.default_rng([seed, 2])
    cases = make_cases("train", n, seed + 17)
    sources = _generate(pipe, [c.prompt for c in cases], [seed + i for i in range(n)], steps,
                        guidance, rescale=rescale)
    src_m = [measure(im) for im in sources]
    usable = [i for i, m in enumerate(src_m) if m.found]
    targets = {i: _edit_target(cases[i].scene.things[0], cases[i].scene.background, rng)
               for i in usable}
    prompts = {}
    for i in usable:
        t = cases[i].scene.things[0]
        recoloured = Scene(cases[i].scene.background,
                           (Thing(t.shape, targets[i], t.position, t.size),))
        prompts[i] = caption(recoloured, rng, complete=True, style=0.0)
    results: dict[str, Any] = {"n": n, "sources_with_object": len(usable)}
    for strength in strengths:
        moved, ious = 0, []
        # As the engine does: ask for steps / strength so about `steps` steps really run.
        call_steps = max(steps, math.ceil(steps / strength))
        for start in range(0, len(usable), 16):
            chunk = usable[start:start + 16]
            gens = [torch.Generator().manual_seed(seed + 100 + i) for i in chunk]
            with torch.inference_mode():
                out = i2i(prompt=[prompts[i] for i in chunk],
                          image=[sources[i] for i in chunk], strength=strength,
                          num_inference_steps=call_steps, guidance_scale=guidance,
                          generator=gens).images
            for i, im in zip(chunk, out, strict=True):
                m = measure(im)
                moved += m.colour == targets[i]
                ious.append(iou(m.mask, src_m[i].mask))
        k = max(1, len(usable))
        results[f"strength_{strength}"] = {
            "colour_moved": moved / k,
            "mean_iou": float(np.mean(ious)) if ious else 0.0,
            "iou_at_least_0.6": float(np.mean([v >= 0.6 for v in ious])) if ious else 0.0,
        }
        report(f"[edit] strength {strength}: {results[f'strength_{strength}']}")
    return results


def time_generation(pipe: Any, steps: int, guidance: float, repeats: int = 5,
                    rescale: float = 0.0) -> float:
    """Median seconds for one picture (one prompt, batch of one) at `steps` steps."""
    import torch

    _generate(pipe, ["a red heart on a blue background"], [0], steps, guidance)  # warm-up
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        with torch.inference_mode():
            pipe(prompt="a yellow star at the top at night", num_inference_steps=steps,
                 guidance_scale=guidance, guidance_rescale=rescale,
                 generator=torch.Generator().manual_seed(r))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def evaluate(model_path: Path | str, *, n: int = 150, n_edits: int = 60, steps: int = 4,
             guidance: float | None = None, guidance_rescale: float | None = None,
             seed: int = 1234,
             strengths: tuple[float, ...] = (0.4, 0.6, 0.7, 0.8),
             shape_cache: Path | None = None, report: Report = print) -> dict[str, Any]:
    # lazy: torch, only when evaluating
    from imaging.demo import recommended_settings

    # lazy: torch, only when evaluating
    from imaging.demo.model import load_demo_pipeline

    # Unless told otherwise, measure the model as easel runs it (its marker's settings).
    recommended = recommended_settings(model_path)
    if guidance is None:
        guidance = float(recommended.get("guidance_scale", 0.0))
    rescale = float(recommended.get("guidance_rescale", 0.0) if guidance_rescale is None
                    else guidance_rescale)
    pipe = load_demo_pipeline(model_path)
    classifier, ceiling = shape_classifier(shape_cache)
    report(f"[shape] classifier accuracy on the generator's renders: {ceiling:.3f}")
    results: dict[str, Any] = {"steps": steps, "guidance_scale": guidance,
                               "guidance_rescale": rescale,
                               "shape_classifier_accuracy": ceiling}
    # The metric's own ceiling: the same measurements on drawn (not generated) pictures.
    rng = np.random.default_rng(seed)
    truth_cases = make_cases("any", n, seed + 5)
    truth = [measure(render(c.scene, rng)[0]) for c in truth_cases]
    truth_shapes = classify_shapes(classifier, [m.mask for m in truth])
    results["renders"] = _score(truth_cases, truth, truth_shapes)
    report(f"[renders] {results['renders']}")
    for name, split in (("seen", "train"), ("held_out", "heldout")):
        cases = make_cases(split, n, seed)
        images = _generate(pipe, [c.prompt for c in cases], [seed + i for i in range(n)], steps,
                           guidance, rescale=rescale)
        measured = [measure(im) for im in images]
        shapes = classify_shapes(classifier, [m.mask for m in measured])
        results[name] = _score(cases, measured, shapes)
        report(f"[{name}] {results[name]}")
    results["edits"] = evaluate_edits(pipe, n_edits, steps, guidance, strengths, seed, report,
                                      rescale)
    import torch

    # Timed with torch's default threads and with one: on a 2-core machine that other
    # work keeps busy, one thread is often the faster (idle OpenMP workers spin).
    timings: dict[str, float] = {}
    default_threads = torch.get_num_threads()
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        for s in (4, 8):
            timings[f"{s}_steps_{threads}_threads"] = round(
                time_generation(pipe, s, guidance, rescale=rescale), 3)
    torch.set_num_threads(default_threads)
    results["seconds_per_image"] = timings
    report(f"[time] {timings}")
    return results
