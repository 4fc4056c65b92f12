"""Canvas tools (imaging/canvas/, tools/canvas.py, tools/upscale.py): what they cost, and
how well they keep the picture outside the mask and hide their seam.

Pictures come from the built-in demo model (CPU). Figures:
1. the operations through the tools (edit_region by box, zoom_out 2x, pan left, upscale
   2x subtle and creative by the engine's hi-res fix) with the store, the real stamp
   (watermark + C2PA) and a pass-through image check, at 256 and 512 px out: seconds
   against generate_image of the same output size by the same path (median of --reps,
   interleaved), the change more than 8 px outside the mask (mean |Δ|/255, watermark
   included) and the seam ratio (gradient along the mask's edge ÷ elsewhere).
2. composite on demo pictures (one pasted into another), five masks: ms, outside change
   (must be 0), seam ratios (8 px feather, outpaint blend, hard paste, the source's own).
3. masked edits through the engine: its own picture, composited with an 8 px feather (as
   the tools did) and as they do now. 4. spandrel 2x, random weights, against a generation.

Usage: python -m bench.canvas [--reps 7] [--upscale-reps 2] [--sides 256 512] [--tools-only]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the demo model never needs a hub

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from imaging.canvas import (  # noqa: E402
    Region,
    SpandrelUpscaler,
    box_mask,
    composite,
    grid_mask,
    mask_from_upload,
    pan_canvas,
    region_from_words,
    zoom_canvas,
)
from imaging.canvas.metrics import outside_change, psnr, seam_energy_ratio  # noqa: E402
from imaging.canvas.spandrel_compat import import_spandrel  # noqa: E402
from imaging.demo import default_model_dir  # noqa: E402
from imaging.engine import ImageRequest  # noqa: E402
from imaging.engines.diffusers import DiffusersEngine  # noqa: E402
from imaging.engines.registry import EngineSet, NamedEngine  # noqa: E402
from imaging.jobs import LocalJobRunner  # noqa: E402
from imaging.provenance import Provenance, ProvenanceConfig  # noqa: E402
from imaging.store import FileImageStore  # noqa: E402
from tools.base import ToolContext, ToolRegistry  # noqa: E402
from tools.canvas import Canvas, PanTool, RegionEditTool, ZoomOutTool  # noqa: E402
from tools.image import GenerateImageTool, ImageLimits  # noqa: E402
from tools.stamp import Stamp  # noqa: E402
from tools.upscale import UpscaleTool  # noqa: E402

PROMPT = "a red apple on a blue table"
CENTRE = Region(0.25, 0.25, 0.75, 0.75)
OUTSIDE_TARGET, SEAM_TARGET = 2 / 255, 1.5
LANCZOS = Image.Resampling.LANCZOS
Layout = Callable[[Image.Image], tuple[Image.Image, Image.Image]]  # source -> canvas, mask
# name, tool, its arguments, source side ÷ output side, canvas and mask, time target
OPS: list[tuple[str, str, dict[str, Any], float, Layout | None, float]] = [
    ("region edit (box)", "edit_region", {"region": "0.25,0.25,0.75,0.75",
                                          "prompt": "a green tree"}, 1,
     lambda s: (s, box_mask(s.size, CENTRE)), 1.3),
    ("zoom out 2x", "zoom_out", {"factor": 2}, 1,
     lambda s: (zoom_canvas(s, 2).canvas, zoom_canvas(s, 2).mask), 1.3),
    ("pan left", "pan", {"direction": "left"}, 1,
     lambda s: (pan_canvas(s, "left").canvas, pan_canvas(s, "left").mask), 1.3),
    ("upscale 2x subtle", "upscale", {"factor": 2, "mode": "subtle"}, 0.5, None, 2.5),
    ("upscale 2x creative", "upscale", {"factor": 2, "mode": "creative"}, 0.5, None, 2.5),
]


def _ms(fn: Callable[[], Any], reps: int) -> float:
    fn()  # warm-up; then the median of `reps` calls
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def _draw(engine: DiffusersEngine, prompt: str, size: tuple[int, int], seed: int = 0,
          **edit: Any) -> Image.Image:
    req = ImageRequest(prompt, width=size[0], height=size[1], steps=engine.default_steps,
                       guidance_scale=engine.guidance_scale, seed=seed, **edit)
    return engine.generate([req])[0].images[0]


def _tools(engine: DiffusersEngine, folder: Path
           ) -> tuple[ToolRegistry, FileImageStore, LocalJobRunner]:
    """The tools as the bot builds them, on the demo model; the image check passes all."""
    store = FileImageStore(folder / "images")
    provenance = Provenance(ProvenanceConfig(data_dir=folder / "provenance"))
    provenance.prepare()
    stamp = Stamp(provenance, store, lambda _: ("demo", "easel built-in demo model"))

    async def check(images: list[Image.Image], user_id: str) -> tuple[list[bool], str | None]:
        return [True] * len(images), None

    limits = ImageLimits(engine.default_size, engine.default_steps, engine.guidance_scale,
                         max_side=2048)
    runner = LocalJobRunner(engine)
    generate = GenerateImageTool(runner, store, limits, check, stamp=stamp)
    canvas = Canvas(generate, EngineSet([NamedEngine("demo", "diffusers", engine, "")]))
    return ToolRegistry([generate, RegionEditTool(canvas), ZoomOutTool(canvas),
                         PanTool(canvas), UpscaleTool(canvas)]), store, runner


async def _call(tools: ToolRegistry, name: str, args: dict[str, Any]) -> tuple[float, str]:
    t0 = time.perf_counter()
    result = await tools.call(name, args, ToolContext("bench", "bench"))
    return time.perf_counter() - t0, result.images[0].image_id


def _row(name: str, src: Image.Image, out: Image.Image, plains: list[float],
         ops: list[float], layout: Layout | None, target: float) -> str:
    outside, seam, note = None, None, ""
    if layout is not None:
        canvas, mask = layout(src)
        outside = outside_change(canvas, out, mask)
        seam = seam_energy_ratio(out, mask)
        note = (f"band inside {seam_energy_ratio(out, mask, side='inside'):.2f}, "
                f"outside {seam_energy_ratio(out, mask, side='outside'):.2f}")
    elif "subtle" in name:
        note = f"shrunk back: PSNR {psnr(out.resize(src.size, LANCZOS), src):.1f} dB (≥30)"
    ratio = statistics.median(o / p for p, o in zip(plains, ops, strict=True))
    plain, op_s = statistics.median(plains), statistics.median(ops)
    ok = (ratio <= target and (outside is None or outside <= OUTSIDE_TARGET)
          and (seam is None or seam <= SEAM_TARGET))
    return (f"| {name} | {out.width}x{out.height} | {plain:.3f} | {op_s:.3f} | "
            f"{ratio:.2f}x (≤{target}) | {'—' if outside is None else f'{outside:.4f}'} | "
            f"{'—' if seam is None else f'{seam:.2f}'} | {note} | {'PASS' if ok else 'MISS'} |")


async def _side(tools: ToolRegistry, store: FileImageStore, side: int, reps: int) -> None:
    """Each operation right after a plain generation of its output size, `reps` + 1 rounds
    (the first warms up): the ratio is the median of those pairs' ratios."""
    sources: dict[int, str] = {}
    for src_side in sorted({int(side * op[3]) for op in OPS}):
        _, sources[src_side] = await _call(tools, "generate_image", {
            "prompt": PROMPT, "size": f"{src_side}x{src_side}", "seed": 1})
    pan_size = pan_canvas(Image.new("RGB", (side, side)), "left").size
    times: dict[str, list[tuple[float, float]]] = {op[0]: [] for op in OPS}
    last: dict[str, str] = {}
    for rep in range(reps + 1):
        for name, tool, args, scale, _, _ in OPS:
            w, h = pan_size if tool == "pan" else (side, side)
            plain, _ = await _call(tools, "generate_image",
                                   {"prompt": PROMPT, "size": f"{w}x{h}", "seed": 3})
            seconds, last[name] = await _call(tools, tool, {
                "image_id": sources[int(side * scale)], "prompt": PROMPT, "seed": 3, **args})
            if rep:
                times[name].append((plain, seconds))
    for name, _, _, scale, layout, target in OPS:
        src, out = await store.open(sources[int(side * scale)]), await store.open(last[name])
        assert src is not None and out is not None
        pairs = times[name]
        print(_row(name, src, out, [p for p, _ in pairs], [s for _, s in pairs], layout, target))


async def tool_figures(engine: DiffusersEngine, reps: int, sides: tuple[int, ...]) -> None:
    print(f"## 1. through the tools (store, stamp, pass-through image check), median of "
          f"{reps}, each right after generate_image at its output size (ratio: of the pairs)")
    print(f"| operation | out | plain s | op s | ratio (target) | outside Δ "
          f"(≤{OUTSIDE_TARGET:.4f}) | seam (≤{SEAM_TARGET}) | notes | |")
    print("|---|---|---:|---:|---:|---:|---:|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tools, store, runner = _tools(engine, Path(tmp))
        try:
            for side in sides:
                await _side(tools, store, side, reps)
        finally:
            await runner.close()
    print("(seam: gradient within 2 px of the mask's edge, both sides, ÷ elsewhere; band "
          "inside / outside: each half alone, the outside one is the source's own pixels)")


def _masks(size: tuple[int, int]) -> dict[str, Image.Image]:
    words = region_from_words("the bottom half")
    assert words is not None
    return {"centre region": box_mask(size, CENTRE), "grid cells 1+2": grid_mask(size, {1, 2}),
            "words: bottom half": box_mask(size, words.region),
            "zoom 2x border": zoom_canvas(Image.new("RGB", size), 2).mask}


def composite_figures(engine: DiffusersEngine, reps: int) -> None:
    size = engine.default_size
    source = _draw(engine, PROMPT, size, seed=1)
    drawn = _draw(engine, "a green tree in a yellow field", size, seed=2)
    cases = {name: (source, drawn, mask) for name, mask in _masks(size).items()}
    pan = pan_canvas(source, "left")
    cases["pan left area"] = (pan.canvas, drawn.resize(pan.size), pan.mask)
    print(f"\n## 2. composite on demo pictures ({size[0]}x{size[1]}; pan: {pan.size[0]}x"
          f"{pan.size[1]}), median of {reps}")
    print("| mask | ms, feather 8 | ms, outpaint | outside Δ | seam: feather 8 | outpaint "
          "blend | hard paste | source's own |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, (src, gen, mask) in cases.items():
        ms = _ms(partial(composite, src, gen, mask), reps)
        ms_out = _ms(partial(composite, src, gen, mask, outpaint=True), reps)
        out, blended = composite(src, gen, mask), composite(src, gen, mask, outpaint=True)
        hard = composite(src, gen, mask, feather_px=0)
        change = max(outside_change(src, o, mask, margin=0) for o in (out, blended))
        print(f"| {name} | {ms:.1f} | {ms_out:.1f} | {change:.4f} | "
              f"{seam_energy_ratio(out, mask):.2f} | {seam_energy_ratio(blended, mask):.2f} | "
              f"{seam_energy_ratio(hard, mask):.2f} | {seam_energy_ratio(src, mask):.2f} |")
    big = (1024, 1024)
    at_1024 = (source.resize(big), drawn.resize(big), box_mask(big, CENTRE))
    print(f"1024x1024 centre region: {_ms(partial(composite, *at_1024), reps):.0f} ms, "
          f"outpaint blend {_ms(partial(composite, *at_1024, outpaint=True), reps):.0f} ms")
    upload = at_1024[2].convert("RGBA")
    canvases = ", ".join(f"{label} {_ms(fn, reps):.1f} ms" for label, fn in (
        ("zoom 2x", partial(zoom_canvas, source, 2)),
        ("pan left", partial(pan_canvas, source, "left")),
        ("mask_from_upload 1024 RGBA", partial(mask_from_upload, upload, size))))
    print(f"canvases at {size[0]}x{size[1]}: {canvases}")


def masked_figures(engine: DiffusersEngine, sides: tuple[int, ...]) -> None:
    print("\n## 3. masked edits through the engine: its picture, and composited")
    print("| edit | canvas | s | outside Δ, engine | after composite | seam: engine | "
          "feather 8 | as the tools do now | its band inside |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for side in sides:
        source = _draw(engine, PROMPT, (side, side), seed=1)
        zoom, pan = zoom_canvas(source, 2), pan_canvas(source, "left")
        for name, canvas, mask, prompt, outpaint in (
                ("region edit (centre)", source, box_mask(source.size, CENTRE), "a green tree",
                 False),
                ("zoom out 2x", zoom.canvas, zoom.mask, PROMPT, True),
                ("pan left", pan.canvas, pan.mask, PROMPT, True)):
            t0 = time.perf_counter()
            raw = _draw(engine, prompt, canvas.size, seed=3, init_image=canvas, mask=mask)
            seconds = time.perf_counter() - t0
            old = composite(canvas, raw, mask)
            now = composite(canvas, raw, mask, outpaint=outpaint)
            print(f"| {name} | {canvas.width}x{canvas.height} | {seconds:.2f} | "
                  f"{outside_change(canvas, raw, mask):.4f} | "
                  f"{outside_change(canvas, now, mask):.4f} | {seam_energy_ratio(raw, mask):.2f} | "
                  f"{seam_energy_ratio(old, mask):.2f} | {seam_energy_ratio(now, mask):.2f} | "
                  f"{seam_energy_ratio(now, mask, side='inside'):.2f} |")


def _compact_model(folder: Path) -> Path:  # random weights, realesr-animevideov3's size
    import_spandrel()
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    net = Compact(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=16, upscale=2)
    path = folder / "compact-64f16c-2x.pth"
    torch.save(net.state_dict(), path)
    return path


def upscale_figures(engine: DiffusersEngine, reps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        upscaler = SpandrelUpscaler.load(_compact_model(Path(tmp)))
    print(f"\n## 4. spandrel 2x (Compact 64 features × 16 convolutions, "
          f"{torch.get_num_threads()} torch threads) against a demo generation at the output "
          f"size (64 px drawn, then scaled: it hardly grows with the size), median of {reps}")
    for side in (256, 512):
        picture = _draw(engine, PROMPT, (side, side))
        up = _ms(partial(upscaler.upscale, picture), reps) / 1000
        out = side * 2
        gen = _ms(partial(_draw, engine, PROMPT, (out, out)), reps) / 1000
        print(f"  {side} -> {out}: upscale {up:.2f} s, generation {gen:.2f} s: {up / gen:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.canvas")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--upscale-reps", type=int, default=2)
    parser.add_argument("--sides", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--tools-only", action="store_true", help="section 1 alone")
    args = parser.parse_args()
    engine = DiffusersEngine.load(str(default_model_dir()), device="cpu")
    engine.warm_up()
    sides = tuple(args.sides)
    print(f"# bench/canvas.py — demo model, {engine.default_steps} steps, "
          f"{os.cpu_count()} CPUs\n")
    asyncio.run(tool_figures(engine, args.reps, sides))
    if not args.tools_only:
        composite_figures(engine, args.reps)
        masked_figures(engine, sides)
        upscale_figures(engine, args.upscale_reps)


if __name__ == "__main__":
    main()
