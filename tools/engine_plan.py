"""Fitting a request to the engine that will draw it, and telling the user what changed.

Each named engine declares what it can do (imaging/engine.py `EngineCapabilities`). A
request it cannot serve as asked is adapted where there is an obvious, documented
fallback, and the user hears about it in the reply:
- a size it does not make is rounded to the nearest one it does (closest shape, then area);
- a negative prompt it has no field for is asked for in words ("leave out: …");
- a step count it ignores is dropped.
Too many images, an unknown engine, or an edit on an engine that cannot edit are errors
with a message (the studio turns the last one into a fresh drawing, see bot/pipeline/studio.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from imaging.engine import EngineCapabilities
from imaging.engines.registry import EngineSet, NamedEngine
from tools.base import ToolArgsError


class EditUnsupported(ToolArgsError):
    """The chosen engine cannot edit pictures (e.g. dall-e-3)."""


@dataclass(slots=True)
class Plan:
    """The engine a request goes to and what the user should be told about it."""

    engine: str | None = None  # None: the one engine of a single-engine deployment
    reproducible: bool = True  # the same seed makes the same picture again
    notes: list[str] = field(default_factory=list)


def resolve(engines: EngineSet | None, name: str | None) -> NamedEngine | None:
    if engines is None:
        return None
    named = engines.get(name)
    if named is None:
        raise ToolArgsError(f"there is no engine called “{name}”; `/models` lists them")
    return named


def fit_size(named: NamedEngine | None, width: int, height: int, asked: bool, plan: Plan
             ) -> tuple[int, int]:
    if named is None:
        return width, height
    caps = named.capabilities
    fitted = caps.fit_size(width, height)
    if fitted != (width, height) and asked:
        plan.notes.append(f"{named.name} makes {_sizes(caps)}, so I made {fitted[0]}x{fitted[1]} "
                          f"(you asked for {width}x{height}).")
    return fitted


def check_n(named: NamedEngine | None, n: int) -> None:
    if named is not None and n > named.capabilities.max_n:
        raise ToolArgsError(f"{named.name} makes at most {named.capabilities.max_n} "
                            f"image{'s' if named.capabilities.max_n != 1 else ''} per request")


def fold_negative(named: NamedEngine | None, prompt: str, negative: str | None, plan: Plan
                  ) -> tuple[str, str | None]:
    if named is None or not negative or named.capabilities.negative_prompt:
        return prompt, negative
    plan.notes.append(f"{named.name} takes no negative prompt, so I asked it in words to leave "
                      f"out “{negative}”.")
    return f"{prompt}. Leave out: {negative}", None


def steps_for(named: NamedEngine | None, asked: int | None, default: int) -> int:
    if named is None:
        return asked or default
    engine: Any = named.engine
    if not named.capabilities.steps:
        return engine.default_steps
    return asked or engine.default_steps


def check_edit(named: NamedEngine | None) -> None:
    if named is not None and not named.capabilities.edits:
        raise EditUnsupported(f"{named.name} cannot edit pictures")


class OperationUnsupported(ToolArgsError):
    """The chosen engine cannot do this canvas operation (nothing was queued)."""


# What each canvas operation needs of an engine, and how to say that it cannot.
_OPERATIONS = {
    "inpaint": (lambda c: c.inpaint, "cannot redraw part of a picture"),
    "outpaint": (lambda c: c.outpaint, "cannot draw past a picture's edges (zoom out, pan)"),
    "upscale": (lambda c: c.upscale, "cannot refine a picture at a larger size"),
}


def check_operation(named: NamedEngine, operation: str) -> None:
    """`OperationUnsupported` when `named` cannot do `operation` (inpaint, outpaint,
    upscale), naming the engine and, with several, where to look for one that can."""
    can, cannot = _OPERATIONS[operation]
    if not can(named.capabilities):
        raise OperationUnsupported(f"{named.name} {cannot}; `/models` says which engines can")


def plan_for(named: NamedEngine | None) -> Plan:
    if named is None:
        return Plan()
    return Plan(named.name, named.capabilities.seeds)


def _sizes(caps: EngineCapabilities) -> str:
    sizes = [f"{w}x{h}" for w, h in caps.sizes or ()]
    return sizes[0] if len(sizes) == 1 else ", ".join(sizes[:-1]) + " or " + sizes[-1]
