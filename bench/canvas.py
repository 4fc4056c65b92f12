"""Canvas tools (imaging/canvas/, tools/canvas.py, tools/upscale.py): what they cost, and
how well they keep the picture outside the mask and hide their seam.

Pictures come from the built-in demo model (CPU). Figures:
1. the operations through the tools (edit_region by box, zoom_out 2x, pan left, upscale
   2x subtle and creative by the engine's hi-res fix), with the store, a pass-through
   image check and the real stamp (watermark + C2PA), at 256 and 512 px out: seconds
   against `generate_image` of the same output size through the same path in the same
   run (median of --reps, interleaved), the change more than 8 px outside the mask
   (mean |Δ|/255, the watermark included) and the seam ratio, each with its target.
2. composite on demo pictures (one picture pasted into another) for five masks: ms per
   call, outside change (must be 0) and the seam ratio (gradient along the mask's edge ÷
   elsewhere) with an 8 px feather, the outpaint blend, a hard paste, and of the source
   itself along the same band; then canvases' ms.
3. masked edits through the engine: its own picture and what compositing makes of it
   (the feather the tools used before, and what they use now).
4. upscale 2x by spandrel with RealESRGAN Compact's architecture at realesr-animevideov3's
   size (random weights: the cost, not the quality) against a demo generation.

Usage: python -m bench.canvas [--reps 5] [--upscale-reps 2] [--tools-only]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
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
Layout = Callable[[Image.Image], tuple[Image.Image, Image.Image]]  # source -> canvas, mask
# name, tool, its arguments, source side ÷ output side, canvas and mask, time target
OPS: list[tuple[str, str, dict[str, Any], float, Layout | None, float]] = [
    ("region edit (box)", "edit_region", {"region": "0.25,0.25,0.75,0.75",
                                          "prompt": "a green tree"}, 1,
     lambda s: (s, box_mask(s.size, CENTRE)), 1.3),
    ("zoom out 2x", "zoom_out", {"factor": 2}, 1,
     lambda s: (lambda o: (o.canvas, o.mask))(zoom_canvas(s, 2)), 1.3),
    ("pan left", "pan", {"direction": "left"}, 1,
     lambda s: (lambda o: (o.canvas, o.mask))(pan_canvas(s, "left")), 1.3),
    ("upscale 2x subtle", "upscale", {"factor": 2, "mode": "subtle"}, 0.5, None, 2.5),
    ("upscale 2x creative", "upscale", {"factor": 2, "mode": "creative"}, 0.5, None, 2.5),
]


def _ms(fn: Callable[[], Any], reps: int) -> float:
    """Median milliseconds of `reps` calls, after one warm-up call."""
    fn()
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


def _tools(engine: DiffusersEngine, folder: Path) -> tuple[ToolRegistry, FileImageStore]:
    """The tools as the bot builds them, on the demo model; the image check passes all."""
    store = FileImageStore(folder / "images")
    provenance = Provenance(ProvenanceConfig(data_dir=folder / "provenance"))
    provenance.prepare()
    stamp = Stamp(provenance, store, lambda _: ("demo", "easel built-in demo model"))

    async def check(images: list[Image.Image], user_id: str) -> tuple[list[bool], str | None]:
        return [True] * len(images), None

    limits = ImageLimits(engine.default_size, engine.default_steps, engine.guidance_scale,
                         max_side=2048)
    generate = GenerateImageTool(LocalJobRunner(engine), store, limits, check, stamp=stamp)
    canvas = Canvas(generate, EngineSet([NamedEngine("demo", "diffusers", engine, "")]))
    return ToolRegistry([generate, RegionEditTool(canvas), ZoomOutTool(canvas),
                         PanTool(canvas), UpscaleTool(canvas)]), store


async def _call(tools: ToolRegistry, name: str, args: dict[str, Any]) -> tuple[float, str]:
    t0 = time.perf_counter()
    result = await tools.call(name, args, ToolContext("bench", "bench"))
    return time.perf_counter() - t0, result.images[0].image_id


def _row(name: str, src: Image.Image, out: Image.Image, plain: float, op_s: float,
         layout: Layout | None, target: float) -> str:
    outside = seam = None
    note = ""
    if layout is not None:
        canvas, mask = layout(src)
        outside = outside_change(canvas, out, mask)
        seam = seam_energy_ratio(out, mask)
        note = (f"band inside {seam_energy_ratio(out, mask, side='inside'):.2f}, "
                f"outside {seam_energy_ratio(out, mask, side='outside'):.2f}")
    elif "subtle" in name:
        back = out.resize(src.size, Image.Resampling.LANCZOS)
        note = f"shrunk back: PSNR {psnr(back, src):.1f} dB (≥30)"
    ratio = op_s / plain
    ok = (ratio <= target and (outside is None or outside <= OUTSIDE_TARGET)
          and (seam is None or seam <= SEAM_TARGET))
    return (f"| {name} | {out.width}x{out.height} | {plain:.3f} | {op_s:.3f} | "
            f"{ratio:.2f}x (≤{target}) | {'—' if outside is None else f'{outside:.4f}'} | "
            f"{'—' if seam is None else f'{seam:.2f}'} | {note} | {'PASS' if ok else 'MISS'} |")


async def _side(tools: ToolRegistry, store: FileImageStore, side: int, reps: int) -> None:
    sources: dict[int, str] = {}
    for src_side in sorted({int(side * op[3]) for op in OPS}):
        _, sources[src_side] = await _call(tools, "generate_image", {
            "prompt": PROMPT, "size": f"{src_side}x{src_side}", "seed": 1})
    jobs = [(name, tool, {"image_id": sources[int(side * scale)], "prompt": PROMPT, "seed": 3,
                          **args}) for name, tool, args, scale, _, _ in OPS]
    for w, h in ((side, side), pan_canvas(Image.new("RGB", (side, side)), "left").size):
        jobs.append((f"{w}x{h}", "generate_image",
                     {"prompt": PROMPT, "size": f"{w}x{h}", "seed": 3}))
    times: dict[str, list[float]] = {name: [] for name, _, _ in jobs}
    last: dict[str, str] = {}
    for rep in range(reps + 1):  # round 0 warms up
        for name, tool, args in jobs:
            seconds, last[name] = await _call(tools, tool, args)
            if rep:
                times[name].append(seconds)
    for name, _, _, scale, layout, target in OPS:
        src = await store.open(sources[int(side * scale)])
        out = await store.open(last[name])
        assert src is not None and out is not None
        plain = statistics.median(times[f"{out.width}x{out.height}"])
        print(_row(name, src, out, plain, statistics.median(times[name]), layout, target))


async def tool_figures(engine: DiffusersEngine, reps: int, sides: tuple[int, ...]) -> None:
    print(f"## 1. through the tools (store, stamp, pass-through image check), median of "
          f"{reps}, interleaved with generate_image at the same output size")
    print(f"| operation | out | plain s | op s | ratio (target) | outside Δ "
          f"(≤{OUTSIDE_TARGET:.4f}) | seam (≤{SEAM_TARGET}) | notes | |")
    print("|---|---|---:|---:|---:|---:|---:|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        tools, store = _tools(engine, Path(tmp))
        for side in sides:
            await _side(tools, store, side, reps)
    print("(seam: gradient within 2 px of the mask's edge, both sides, ÷ elsewhere; "
          "band inside / outside: each half alone, the outside half is the source's own "
          "pixels; upscales have no mask)")


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
        ms = _ms(lambda src=src, gen=gen, mask=mask: composite(src, gen, mask), reps)
        ms_out = _ms(lambda src=src, gen=gen, mask=mask: composite(src, gen, mask,
                                                                    outpaint=True), reps)
        out, blended = composite(src, gen, mask), composite(src, gen, mask, outpaint=True)
        hard = composite(src, gen, mask, feather_px=0)
        change = max(outside_change(src, o, mask, margin=0) for o in (out, blended))
        print(f"| {name} | {ms:.1f} | {ms_out:.1f} | {change:.4f} | "
              f"{seam_energy_ratio(out, mask):.2f} | {seam_energy_ratio(blended, mask):.2f} | "
              f"{seam_energy_ratio(hard, mask):.2f} | {seam_energy_ratio(src, mask):.2f} |")
    big = (1024, 1024)
    src_big, gen_big, mask_big = source.resize(big), drawn.resize(big), box_mask(big, CENTRE)
    print(f"1024x1024 centre region: {_ms(lambda: composite(src_big, gen_big, mask_big), reps):.0f}"
          f" ms, outpaint blend "
          f"{_ms(lambda: composite(src_big, gen_big, mask_big, outpaint=True), reps):.0f} ms")
    drawn_mask = mask_big.convert("RGBA")
    canvases = ", ".join(f"{label} {_ms(fn, reps):.1f} ms" for label, fn in (
        ("zoom 2x", lambda: zoom_canvas(source, 2)), ("zoom 1.5x", lambda: zoom_canvas(source, 1.5)),
        ("pan left", lambda: pan_canvas(source, "left")),
        ("mask_from_upload 1024 RGBA", lambda: mask_from_upload(drawn_mask, size))))
    print(f"canvases at {size[0]}x{size[1]}: {canvases}")


def masked_figures(engine: DiffusersEngine, sides: tuple[int, ...]) -> None:
    print("\n## 3. masked edits through the engine: its picture, and composited")
    print("| edit | canvas | s | outside Δ, engine | after composite | seam: engine | "
          "feather 8 | as the tools do now |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
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
                  f"{seam_energy_ratio(old, mask):.2f} | {seam_energy_ratio(now, mask):.2f} |")


def _compact_model(folder: Path) -> Path:
    """RealESRGAN Compact at realesr-animevideov3's size, 2x, random weights."""
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
          f"size, median of {reps}")
    for side in (256, 512):
        picture = _draw(engine, PROMPT, (side, side))
        up = _ms(lambda picture=picture: upscaler.upscale(picture), reps) / 1000
        out = side * 2
        gen = _ms(lambda out=out: _draw(engine, PROMPT, (out, out)), reps) / 1000
        print(f"  {side} -> {out}: upscale {up:.2f} s, generation {gen:.2f} s: {up / gen:.1f}x")
    print("  (the demo model draws 64 px and scales up, so its generation time hardly grows "
          "with the size; a full-size model's would)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.canvas")
    parser.add_argument("--reps", type=int, default=5)
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
