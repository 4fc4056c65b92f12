"""Demo model evaluation: colour / background / shape / position accuracy on seen and
held-out colour x thing pairs, "make it <colour>" edits, and seconds per picture.

Everything is measured from pixels (see imaging/demo/measure.py); the shape classifier is
trained on the generator's own renders the first time and cached in the temp folder.

Usage: python -m bench.demo_model [--model DIR] [--n 150] [--edits 60] [--steps 4]
                                  [--json results.json]
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the demo model never needs a hub

from imaging.demo.cli import add_parser  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="bench/demo_model.py")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    args = parser.parse_args(["demo-model", "eval", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
