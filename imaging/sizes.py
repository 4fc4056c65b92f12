"""Image sizes as people type them ("768x512"): parsed and checked in one place.

Lives in imaging/ because the rule (multiples of 8, within the model's range) is what
diffusion models need; the settings reader, the command parser and the image tools all
use it.
"""

from __future__ import annotations

import re

_SIZE_RE = re.compile(r"^(\d{2,4})x(\d{2,4})$")


def parse_size(text: str, max_side: int = 4096) -> tuple[int, int]:
    """Parse "WxH"; both sides multiples of 8 between 64 and max_side."""
    m = _SIZE_RE.match(text.strip().lower())
    if not m:
        raise ValueError(f"size must look like 512x512, not {text!r}")
    w, h = int(m.group(1)), int(m.group(2))
    for side in (w, h):
        if side < 64 or side > max_side or side % 8:
            raise ValueError(f"each side must be a multiple of 8 between 64 and {max_side}")
    return w, h
