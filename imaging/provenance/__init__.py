"""Provenance for every image easel delivers: an invisible watermark, signed C2PA Content
Credentials, an optional visible badge, and verification of all three.

Importing the package is cheap (the config and report types); `Provenance` and
`Watermarker` load numpy, scipy and c2pa's native library when first used.

    prov = Provenance(ProvenanceConfig(data_dir=...)); prov.prepare()
    info = GenerationInfo(engine, model, prov.generation_key(ref))
    data = await prov.amark_and_sign(image, info, parent=parent_bytes_or_None)
    report = await prov.averify(data)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imaging.provenance.config import (
    GenerationInfo,
    KeyConfigError,
    ProvenanceConfig,
    ProvenanceError,
    SigningError,
)
from imaging.provenance.report import (
    ManifestReport,
    ManifestState,
    ProvenanceReport,
    WatermarkReport,
)

if TYPE_CHECKING:
    from imaging.provenance.marker import Detection, Watermarker
    from imaging.provenance.service import Provenance

__all__ = [
    "Detection", "GenerationInfo", "KeyConfigError", "ManifestReport", "ManifestState",
    "Provenance", "ProvenanceConfig", "ProvenanceError", "ProvenanceReport", "SigningError",
    "WatermarkReport", "Watermarker",
]

_LAZY = {"Provenance": "imaging.provenance.service", "Watermarker": "imaging.provenance.marker",
         "Detection": "imaging.provenance.marker"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
