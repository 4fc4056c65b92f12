"""`easel demo-model ...`: train, evaluate or copy the built-in demo model.

`bot/app/cli.py` hands its sub-parser to `add_parser`; everything about these commands
(arguments, handlers, output) lives here, next to the model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _print(line: str) -> None:
    print(line, flush=True)  # progress for a person at a terminal, not a log record


def cmd_train(args: argparse.Namespace) -> int:
    # lazy: torch training and evaluation load only for their command
    from imaging.demo.train import train

    out = train(args.out, args.steps, resume=not args.restart, device=args.device,
                threads=args.threads, report=_print)
    _print(f"use it with EASEL_IMAGE_MODEL={out}; evaluate it with "
           f"easel demo-model eval --model {out}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    # lazy: torch training and evaluation load only for their command
    from imaging.demo import default_model_dir

    # lazy: torch training and evaluation load only for their command
    from imaging.demo.evaluate import evaluate

    model = args.model or default_model_dir()
    results = evaluate(model, n=args.n, n_edits=args.edits, steps=args.steps,
                       guidance=args.guidance, guidance_rescale=args.guidance_rescale,
                       report=_print)
    text = json.dumps(results, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    if args.card:
        # lazy: torch training and evaluation load only for their command
        from imaging.demo.card import write_card

        _print(f"wrote {write_card(model, results)}")
    _print(text)
    return 0


def cmd_copy(args: argparse.Namespace) -> int:
    # lazy: torch training and evaluation load only for their command
    from imaging.demo import copy_model

    path = copy_model(args.path)
    _print(f"copied the demo model to {path}; use it with EASEL_IMAGE_MODEL={path}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    d = sub.add_parser("demo-model", help="train, evaluate or copy the built-in demo model")
    dsub = d.add_subparsers(dest="demo_command", required=True)

    t = dsub.add_parser("train", help="train the demo model from scratch (CPU: under an hour)")
    t.add_argument("--out", required=True, type=Path, help="model folder to write")
    t.add_argument("--steps", type=int, default=None, help="UNet steps (default 8000)")
    t.add_argument("--restart", action="store_true",
                   help="ignore checkpoints in OUT/_train and start over")
    t.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    t.add_argument("--threads", type=int, default=None, help="CPU threads (default: by load)")
    t.set_defaults(func=cmd_train)

    e = dsub.add_parser("eval", help="measure a demo model's pictures (colour, shape, ...)")
    e.add_argument("--model", type=Path, default=None, help="default: the shipped model")
    e.add_argument("--n", type=int, default=150, help="prompts per split")
    e.add_argument("--edits", type=int, default=60, help="img2img edits")
    e.add_argument("--steps", type=int, default=4)
    e.add_argument("--guidance", type=float, default=None,
                   help="classifier-free guidance (default: the model's own, as easel runs it)")
    e.add_argument("--guidance-rescale", type=float, default=None,
                   help="guidance rescale (default: the model's own)")
    e.add_argument("--json", default=None, help="also write the results to this file")
    e.add_argument("--card", action="store_true",
                   help="(re)write MODEL_CARD.md in the model folder from these results")
    e.set_defaults(func=cmd_eval)

    c = dsub.add_parser("copy", help="copy the shipped demo model to PATH")
    c.add_argument("path", type=Path)
    c.set_defaults(func=cmd_copy)
    return d
