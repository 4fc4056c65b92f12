"""Canvas tools (imaging/canvas/): what they cost, and how well compositing keeps the
picture outside the mask and hides its seam.

Pictures come from the built-in demo model (CPU). Figures:
1. composite on demo pictures (one picture pasted into another) for five masks (a centre
   region, grid cells 1+2, "the bottom half", zoom 2x's border, pan left's new area):
   ms per call, outside change (mean |Δ|/255 more than 8 px outside the mask; must be 0),
   and the seam ratio (gradient along the mask's edge ÷ elsewhere) with feathering (8 px),
   with a hard paste (0 px), and of the source itself along the same band (its own edges).
2. canvases: ms to build zoom, pan and an uploaded mask at the picture's size.
3. upscale: spandrel 2x with RealESRGAN Compact's architecture at realesr-animevideov3's
   size (64 features, 16 convolutions; random weights: the cost, not the quality) at 256
   and 512 px in, against a plain demo generation of the same output size, in this run.
4. masked edits through the engine (`ImageRequest(init_image=..., mask=...)`): region
   edit, zoom out, pan left: seconds, outside change of the engine's own picture (what
   `composite` puts back) and after compositing, seam ratios. Skipped, with a note, while
   ImageRequest has no mask or the engine cannot draw masked edits.

Usage: python -m bench.canvas [--reps 5] [--upscale-reps 2]
"""

from __future__ import annotations

import argparse
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
    Outpaint,
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
from imaging.canvas.metrics import outside_change, seam_energy_ratio  # noqa: E402
from imaging.canvas.spandrel_compat import import_spandrel  # noqa: E402
from imaging.demo import default_model_dir  # noqa: E402
from imaging.engine import GenerationError, ImageRequest  # noqa: E402
from imaging.engines.diffusers import DiffusersEngine  # noqa: E402


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


def _masks(size: tuple[int, int]) -> dict[str, Image.Image]:
    words = region_from_words("the bottom half")
    assert words is not None
    return {"centre region": box_mask(size, Region(0.25, 0.25, 0.75, 0.75)),
            "grid cells 1+2": grid_mask(size, {1, 2}),
            "words: bottom half": box_mask(size, words.region),
            "zoom 2x border": zoom_canvas(Image.new("RGB", size), 2).mask}


def composite_figures(engine: DiffusersEngine, reps: int) -> None:
    size = engine.default_size
    source = _draw(engine, "a red apple on a blue table", size, seed=1)
    drawn = _draw(engine, "a green tree in a yellow field", size, seed=2)
    cases = {name: (source, drawn, mask) for name, mask in _masks(size).items()}
    pan = pan_canvas(source, "left")
    cases["pan left area"] = (pan.canvas, drawn.resize(pan.size), pan.mask)
    print(f"## 1. composite on demo pictures ({size[0]}x{size[1]}; pan: {pan.size[0]}x"
          f"{pan.size[1]}), median of {reps}")
    print("| mask | ms | outside change | seam, feather 8 | seam, hard paste | source's own |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (src, gen, mask) in cases.items():
        ms = _ms(lambda src=src, gen=gen, mask=mask: composite(src, gen, mask), reps)
        out = composite(src, gen, mask)
        hard = composite(src, gen, mask, feather_px=0)
        print(f"| {name} | {ms:.1f} | {outside_change(src, out, mask):.4f} | "
              f"{seam_energy_ratio(out, mask):.2f} | {seam_energy_ratio(hard, mask):.2f} | "
              f"{seam_energy_ratio(src, mask):.2f} |")
    big = (1024, 1024)
    src_big, gen_big = source.resize(big), drawn.resize(big)
    mask_big = box_mask(big, Region(0.25, 0.25, 0.75, 0.75))
    print(f"\ncomposite at 1024x1024 (centre region): "
          f"{_ms(lambda: composite(src_big, gen_big, mask_big), reps):.1f} ms")

    print(f"\n## 2. canvases at {size[0]}x{size[1]}, median of {reps}")
    drawn_mask = mask_big.convert("RGBA")
    for label, fn in (("zoom_canvas 2x", lambda: zoom_canvas(source, 2)),
                      ("zoom_canvas 1.5x", lambda: zoom_canvas(source, 1.5)),
                      ("pan_canvas left", lambda: pan_canvas(source, "left")),
                      ("mask_from_upload (1024 RGBA -> resized)",
                       lambda: mask_from_upload(drawn_mask, size))):
        print(f"  {label:<42} {_ms(fn, reps):8.1f} ms")


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
    print(f"\n## 3. upscale 2x (spandrel, Compact 64 features × 16 convolutions, "
          f"{torch.get_num_threads()} torch threads), median of {reps}")
    print("| in | out | upscale s | demo generation at out size s | ratio |")
    print("|---|---|---:|---:|---:|")
    for side in (256, 512):
        picture = _draw(engine, "a red apple on a blue table", (side, side))
        up = _ms(lambda picture=picture: upscaler.upscale(picture), reps) / 1000
        out = side * 2
        gen = _ms(lambda out=out: _draw(engine, "a red apple on a blue table", (out, out)),
                  reps) / 1000
        print(f"| {side} | {out} | {up:.2f} | {gen:.2f} | {up / gen:.2f}x |")
    print("(the demo model draws 64 px and scales up, so its generation time hardly grows "
          "with the size; a full-size model's would)")


def _masked_case(engine: DiffusersEngine, name: str, canvas: Image.Image, mask: Image.Image,
                 prompt: str) -> None:
    t0 = time.perf_counter()
    raw = _draw(engine, prompt, canvas.size, seed=3, init_image=canvas, mask=mask)
    seconds = time.perf_counter() - t0
    if raw.size != canvas.size:
        raw = raw.resize(canvas.size, Image.Resampling.LANCZOS)
    out = composite(canvas, raw, mask)
    print(f"| {name} | {canvas.width}x{canvas.height} | {seconds:.2f} | "
          f"{outside_change(canvas, raw, mask):.4f} | {outside_change(canvas, out, mask):.4f} | "
          f"{seam_energy_ratio(raw, mask):.2f} | {seam_energy_ratio(out, mask):.2f} |")


def masked_figures(engine: DiffusersEngine) -> None:
    print("\n## 4. masked edits through the engine")
    if "mask" not in ImageRequest.__dataclass_fields__:
        print("skipped: ImageRequest has no `mask` yet (engines do not take masked edits)")
        return
    size = engine.default_size
    source = _draw(engine, "a red apple on a blue table", size, seed=1)
    zoom: Outpaint = zoom_canvas(source, 2)
    pan = pan_canvas(source, "left")
    cases = [("region edit (centre)", source, box_mask(size, Region(0.25, 0.25, 0.75, 0.75)),
              "a green tree"),
             ("zoom out 2x", zoom.canvas, zoom.mask, "a red apple on a blue table"),
             ("pan left", pan.canvas, pan.mask, "a red apple on a blue table")]
    print("| edit | canvas | s | outside change, engine | after composite | seam, engine | "
          "seam, composite |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, canvas, mask, prompt in cases:
        try:
            _masked_case(engine, name, canvas, mask, prompt)
        except GenerationError as exc:
            print(f"| {name} | skipped: {exc} | | | | | |")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.canvas")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--upscale-reps", type=int, default=2)
    args = parser.parse_args()
    engine = DiffusersEngine.load(str(default_model_dir()), device="cpu")
    engine.warm_up()
    print(f"# bench/canvas.py — demo model, {engine.default_steps} steps, {os.cpu_count()} CPUs\n")
    composite_figures(engine, args.reps)
    upscale_figures(engine, args.upscale_reps)
    masked_figures(engine)


if __name__ == "__main__":
    main()
