"""ComfyUI workflows in API format, with easel's placeholders filled in per request.

A workflow exported with "Save (API Format)" is a JSON object of nodes
(`{"3": {"class_type": "KSampler", "inputs": {...}}}`). Wherever an input should come from
the request, write a placeholder string: `"{{prompt}}"`, `"{{negative_prompt}}"`,
`"{{seed}}"`, `"{{width}}"`, `"{{height}}"`, `"{{steps}}"`, and in an edit workflow
`"{{image}}"` (the uploaded picture's name, for a LoadImage node) and `"{{denoise}}"`
(how far to move from it). A mask workflow (inpainting, outpainting) also has
`"{{mask}}"`: the uploaded mask's name, a greyscale picture, white = redraw (a
LoadImageMask node with channel "red" reads it so). A value that is exactly a numeric
placeholder becomes a number; placeholders inside longer strings are substituted as text.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PLACEHOLDERS = ("prompt", "negative_prompt", "seed", "width", "height", "steps", "image",
                "denoise", "mask")
_NUMERIC = {"seed", "width", "height", "steps", "denoise"}
_TOKEN_RE = re.compile(r"\{\{(\w+)\}\}")


class WorkflowError(ValueError):
    """The workflow file is not an API-format workflow easel can fill in."""


@dataclass(frozen=True, slots=True)
class Workflow:
    graph: dict[str, Any]
    used: frozenset[str]  # the placeholders it contains

    @classmethod
    def load(cls, path: Path, *, edit: bool = False, mask: bool = False) -> Workflow:
        try:
            graph = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WorkflowError(f"cannot read {path}: {exc}") from None
        return cls.parse(graph, edit=edit, mask=mask, where=str(path))

    @classmethod
    def parse(cls, graph: Any, *, edit: bool = False, mask: bool = False,
              where: str = "workflow") -> Workflow:
        """`edit`: it must take the picture (`{{image}}`); `mask`: and the mask too."""
        if not isinstance(graph, dict) or not graph or not all(
                isinstance(n, dict) and "class_type" in n and isinstance(n.get("inputs"), dict)
                for n in graph.values()):
            raise WorkflowError(f"{where}: not a ComfyUI workflow in API format (export it with "
                                "\"Save (API Format)\": an object of nodes with class_type "
                                "and inputs)")
        used = frozenset(_TOKEN_RE.findall(json.dumps(graph)))
        unknown = used - set(PLACEHOLDERS)
        if unknown:
            raise WorkflowError(f"{where}: unknown placeholder {{{{{sorted(unknown)[0]}}}}}; "
                                f"easel fills {', '.join(PLACEHOLDERS)}")
        if "prompt" not in used:
            raise WorkflowError(f"{where}: no \"{{{{prompt}}}}\" placeholder for the prompt")
        if (edit or mask) and "image" not in used:
            raise WorkflowError(f"{where}: an edit workflow needs an \"{{{{image}}}}\" "
                                "placeholder (the input picture of a LoadImage node)")
        if not mask and "mask" in used:
            raise WorkflowError(f"{where}: \"{{{{mask}}}}\" belongs in a mask_workflow only")
        if mask and "mask" not in used:
            raise WorkflowError(f"{where}: a mask workflow needs a \"{{{{mask}}}}\" "
                                "placeholder (the mask picture of a LoadImageMask node)")
        return cls(graph, used)

    def fill(self, values: dict[str, Any]) -> dict[str, Any]:
        """A copy of the graph with every placeholder replaced (a missing negative
        prompt becomes empty text)."""
        values = {"negative_prompt": "", **values}
        missing = self.used - set(values)
        if missing:
            raise WorkflowError(f"no value for {{{{{sorted(missing)[0]}}}}}")

        def sub(value: Any) -> Any:
            if isinstance(value, str):
                whole = _TOKEN_RE.fullmatch(value)
                if whole and whole.group(1) in _NUMERIC:
                    return values[whole.group(1)]
                return _TOKEN_RE.sub(lambda m: str(values[m.group(1)]), value)
            if isinstance(value, dict):
                return {k: sub(v) for k, v in value.items()}
            if isinstance(value, list):
                return [sub(v) for v in value]
            return value

        return sub(copy.deepcopy(self.graph))
