"""`easel provenance verify FILE [--json]`: what an image's provenance says.

`bot/app/cli.py` hands its sub-parser to `add_parser`, with a function giving the configured
defaults (data dir, certificate); arguments given here win. Exit status: 0 when the image
carries an intact easel manifest or this deployment's watermark, 1 when it carries
neither (or was tampered with), 2 when the file cannot be read.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path

from imaging.provenance.config import ProvenanceConfig, ProvenanceError
from imaging.provenance.report import ManifestState

ConfigFactory = Callable[[], ProvenanceConfig]


def _config(args: argparse.Namespace, defaults: ConfigFactory | None) -> ProvenanceConfig:
    overrides = {k: v for k, v in (("data_dir", args.data_dir),
                                   ("trust_anchors_path", args.anchors),
                                   ("watermark_key_path", args.watermark_key)) if v is not None}
    if defaults is not None:
        return dataclasses.replace(defaults(), **overrides)
    overrides.setdefault("data_dir", Path(".easel-data"))
    return ProvenanceConfig(**overrides)


def cmd_verify(args: argparse.Namespace, defaults: ConfigFactory | None) -> int:
    # lazy: c2pa loads only for the verify command
    from imaging.provenance.service import Provenance

    try:
        data = Path(args.file).read_bytes()
        report = Provenance(_config(args, defaults)).verify(data)
    except (OSError, ProvenanceError) as exc:
        print(f"easel provenance verify: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"file": str(args.file), **report.to_dict()}, indent=2))
    else:
        print(f"{args.file}:")
        for line in report.lines():
            print(f"  {line}")
    if report.notes and report.format is None:
        return 2
    intact = report.manifest.easel and report.manifest.state in (ManifestState.TRUSTED,
                                                                 ManifestState.VALID)
    tampered = report.manifest.state is ManifestState.TAMPERED
    return 0 if (intact or report.made_here) and not tampered else 1


def add_parser(sub: argparse._SubParsersAction, defaults: ConfigFactory | None = None
               ) -> argparse.ArgumentParser:
    p = sub.add_parser("provenance", help="image provenance: C2PA credentials and watermark")
    psub = p.add_subparsers(dest="provenance_command", required=True)
    v = psub.add_parser("verify", help="report an image's Content Credentials and watermark")
    v.add_argument("file", type=Path)
    v.add_argument("--json", action="store_true", help="one JSON object instead of text")
    v.add_argument("--data-dir", type=Path, default=None,
                   help="the deployment's data dir (its watermark key and local CA)")
    v.add_argument("--anchors", type=Path, default=None,
                   help="PEM certificates to trust besides the deployment's own roots")
    v.add_argument("--watermark-key", type=Path, default=None, help="the watermark key file")
    v.set_defaults(func=lambda a: cmd_verify(a, defaults))
    return p
