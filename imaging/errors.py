"""The root of imaging/'s exceptions: a caller catches "an imaging error" in one clause."""

from __future__ import annotations


class ImagingError(Exception):
    """Anything imaging/ raises on purpose (engines, jobs, uploads, provenance, workflows)."""
