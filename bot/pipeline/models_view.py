"""`/models`: the deployment's engines as the user sees them, one line each."""

from __future__ import annotations

from typing import Any

from bot.pipeline.replies import EngineLine
from imaging.engines.registry import EngineSet, NamedEngine


def engine_lines(engines: EngineSet, jobs: Any) -> list[EngineLine]:
    """`jobs`: the runner; an `EngineRouter` knows how long each engine's images take."""
    return [_line(named, _measured(jobs, named.name)) for named in engines]


def _measured(jobs: Any, name: str) -> float | None:
    seconds = getattr(jobs, "seconds_per_image", None)
    return seconds(name) if seconds is not None else None


def _line(named: NamedEngine, seconds: float | None) -> EngineLine:
    caps = named.capabilities
    if seconds is not None:
        speed = f"about {seconds:.1f} s per image lately" if seconds >= 0.1 else \
            "well under a second per image"
    else:
        speed = named.speed or "not timed here yet"
    can = tuple(word for word, ok in (("negative prompts", caps.negative_prompt),
                                       ("reproducible seeds", caps.seeds),
                                       ("previews", caps.previews)) if ok)
    where = "remote" if named.remote else f"local ({named.device})"
    return EngineLine(named.name, named.summary(), where, speed, caps.describe_sizes(),
                      caps.max_n, can, tuple(caps.operations()))
