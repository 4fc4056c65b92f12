"""Where on a picture a canvas edit applies: a region in fractions, a 3×3 grid, or words.

A `Region` is a box in fractions of the picture's width and height (0–1), so one request
means the same area at any size; `Region.box(size)` turns it into pixels. Every mask here
is mode "L", the picture's size, 255 where the engine redraws and 0 where it keeps.

Grid cells are numbered 1–9 row by row from the top left:

    1 top left      2 top centre     3 top right
    4 middle left   5 centre         6 middle right
    7 bottom left   8 bottom centre  9 bottom right

Positional words that `region_from_words` maps (case-insensitive; "-" or a space between
words; the longest phrase found wins, then the first):

- the four corners, each a quarter of the picture: "top left", "top-left corner",
  "upper left", "bottom right", "lower right corner", ... ("upper" = top, "lower" = bottom);
- thirds: "top third", "upper third", "bottom third", "lower third", "left third",
  "right third";
- halves: "top half", "bottom half", "left half", "right half", "upper half", "lower half",
  and the same sides with "part", "portion", "area" or "side" ("the left side"), and
  "at the top", "at the bottom", "on the left", "on the right";
- the middles of the sides, as grid cells 2, 4, 6 and 8: "top centre", "top middle",
  "middle left", "left centre", "middle right", "bottom center", ...;
- the centre, the middle half of each side: "centre", "center", "middle".

"upper" and "lower" alone are not regions ("lower the brightness" is not a place), nor is
"top" or "bottom" alone ("a hat on top"), nor "at the top of ..." (of something else).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from PIL import Image

from imaging.canvas.errors import CanvasError

REGION_HELP = ("The region must be four numbers between 0 and 1: x0,y0,x1,y1 with x0 < x1 "
               "and y0 < y1 (for example 0.25,0.25,0.75,0.75 for the centre).")
CELLS_HELP = "Grid cells are numbered 1 to 9, row by row from the top left."

Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels (right/bottom exclusive)


def _edge(fraction: float, side: int) -> int:
    """One pixel edge; grid cells and regions share it so their masks line up exactly."""
    return int(round(fraction * side))


@dataclass(frozen=True, slots=True)
class Region:
    """A box in fractions of the picture's width (x) and height (y), from 0 to 1."""

    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        for value in (self.x0, self.y0, self.x1, self.y1):
            if not 0.0 <= value <= 1.0:  # also refuses NaN
                raise CanvasError(f"{value:g} is outside 0 to 1. {REGION_HELP}")
        if not (self.x0 < self.x1 and self.y0 < self.y1):
            raise CanvasError(f"That region is empty. {REGION_HELP}")

    @classmethod
    def parse(cls, text: str) -> Region:
        """"0.1,0.2,0.5,0.6" (spaces allowed) -> Region; CanvasError with REGION_HELP."""
        parts = [p.strip() for p in text.strip().strip("()[]").split(",")]
        try:
            if len(parts) != 4:
                raise ValueError(text)
            x0, y0, x1, y1 = (float(p) for p in parts)
        except ValueError:
            raise CanvasError(f"I couldn't read {text.strip()!r} as a region. "
                              f"{REGION_HELP}") from None
        return cls(x0, y0, x1, y1)

    def box(self, size: tuple[int, int]) -> Box:
        """The region in pixels of a picture of `size`, at least one pixel each way."""
        w, h = size
        left, top = _edge(self.x0, w), _edge(self.y0, h)
        right, bottom = _edge(self.x1, w), _edge(self.y1, h)
        return left, top, max(right, min(left + 1, w)), max(bottom, min(top + 1, h))

    def __str__(self) -> str:
        return f"{self.x0:g},{self.y0:g},{self.x1:g},{self.y1:g}"


class GridCell(NamedTuple):
    number: int
    name: str
    region: Region


_CELL_NAMES = ("top left", "top centre", "top right", "middle left", "centre", "middle right",
               "bottom left", "bottom centre", "bottom right")
GRID_CELLS: dict[int, GridCell] = {
    n: GridCell(n, _CELL_NAMES[n - 1],
                Region(((n - 1) % 3) / 3, ((n - 1) // 3) / 3,
                       ((n - 1) % 3 + 1) / 3, ((n - 1) // 3 + 1) / 3))
    for n in range(1, 10)
}


def _check_cells(cells: set[int] | frozenset[int]) -> None:
    if not cells or any(c not in GRID_CELLS for c in cells):
        raise CanvasError(CELLS_HELP)


def grid_region(cells: set[int] | frozenset[int]) -> Region:
    """The bounding box of the cells (1 and 9 give the whole picture)."""
    _check_cells(cells)
    cols = [(c - 1) % 3 for c in cells]
    rows = [(c - 1) // 3 for c in cells]
    return Region(min(cols) / 3, min(rows) / 3, (max(cols) + 1) / 3, (max(rows) + 1) / 3)


def grid_mask(size: tuple[int, int], cells: set[int] | frozenset[int]) -> Image.Image:
    """255 on exactly the union of the cells (not their bounding box), 0 elsewhere."""
    _check_cells(cells)
    mask = Image.new("L", size, 0)
    for c in cells:
        mask.paste(255, GRID_CELLS[c].region.box(size))
    return mask


def box_mask(size: tuple[int, int], region: Region) -> Image.Image:
    """255 inside the region, 0 outside."""
    mask = Image.new("L", size, 0)
    mask.paste(255, region.box(size))
    return mask


@dataclass(frozen=True, slots=True)
class WordRegion:
    """A region named in words, with the phrase as written and where it stands in the text."""

    region: Region
    phrase: str
    span: tuple[int, int]

    def without(self, text: str) -> str:
        """`text` with the phrase taken out, with a preposition and article just before it
        ("in the top left corner" goes whole), and spaces tidied."""
        start, end = self.span
        head = re.sub(r"(?:\b(?:in|on|at|to|into|of|across|along)\s+)?(?:\bthe\s+)?$", "",
                      text[:start], flags=re.IGNORECASE)
        joined = re.sub(r"\s+([,.;:!?])", r"\1", f"{head} {text[end:]}")
        return re.sub(r"\s{2,}", " ", joined).strip(" ,")


_SEP = r"[\s-]+"
_TOP, _BOTTOM = r"(?:top|upper)", r"(?:bottom|lower)"
_PART = r"(?:half|part|portion|area|side)"
_MID = r"(?:cent(?:re|er)|middle)"
_HALF, _THIRD = 0.5, 1 / 3
_WORDS: list[tuple[str, Region]] = [
    # corners: a quarter each
    (rf"{_TOP}{_SEP}left(?:{_SEP}corner)?", Region(0, 0, _HALF, _HALF)),
    (rf"{_TOP}{_SEP}right(?:{_SEP}corner)?", Region(_HALF, 0, 1, _HALF)),
    (rf"{_BOTTOM}{_SEP}left(?:{_SEP}corner)?", Region(0, _HALF, _HALF, 1)),
    (rf"{_BOTTOM}{_SEP}right(?:{_SEP}corner)?", Region(_HALF, _HALF, 1, 1)),
    # thirds
    (rf"{_TOP}{_SEP}third", Region(0, 0, 1, _THIRD)),
    (rf"{_BOTTOM}{_SEP}third", Region(0, 2 / 3, 1, 1)),
    (rf"left{_SEP}third", Region(0, 0, _THIRD, 1)),
    (rf"right{_SEP}third", Region(2 / 3, 0, 1, 1)),
    # halves
    (rf"(?:at\s+the\s+)?{_TOP}{_SEP}{_PART}|at\s+the\s+top(?!{_SEP}(?:of|left|right))",
     Region(0, 0, 1, _HALF)),
    (rf"(?:at\s+the\s+)?{_BOTTOM}{_SEP}{_PART}|at\s+the\s+bottom(?!{_SEP}(?:of|left|right))",
     Region(0, _HALF, 1, 1)),
    (rf"(?:on\s+the\s+)?left{_SEP}{_PART}|on\s+the\s+left(?!\s+of)", Region(0, 0, _HALF, 1)),
    (rf"(?:on\s+the\s+)?right{_SEP}{_PART}|on\s+the\s+right(?!\s+of)", Region(_HALF, 0, 1, 1)),
    # the middles of the sides: their grid cells
    (rf"{_TOP}{_SEP}{_MID}", GRID_CELLS[2].region),
    (rf"{_MID}{_SEP}left|left{_SEP}{_MID}", GRID_CELLS[4].region),
    (rf"{_MID}{_SEP}right|right{_SEP}{_MID}", GRID_CELLS[6].region),
    (rf"{_BOTTOM}{_SEP}{_MID}", GRID_CELLS[8].region),
    # centre: the middle half each way
    (_MID, Region(0.25, 0.25, 0.75, 0.75)),
]
# Word edges: not inside a longer word, nor a hyphenated compound ("middle-aged").
_COMPILED = [(re.compile(rf"(?<![\w-])(?:{p})(?![\w-])", re.IGNORECASE), r) for p, r in _WORDS]


def region_from_words(text: str) -> WordRegion | None:
    """The region a positional phrase in `text` names, or None (the mapped words are in
    this module's docstring). Of several phrases, the longest wins, then the first."""
    found: list[tuple[int, int, Region]] = []
    for pattern, region in _COMPILED:
        found += [(m.start(), m.end(), region) for m in pattern.finditer(text)]
    if not found:
        return None
    start, end, region = max(found, key=lambda f: (f[1] - f[0], -f[0]))
    return WordRegion(region, text[start:end], (start, end))
