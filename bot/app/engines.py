"""The engines a deployment draws with, and the runner that feeds them.

One engine (no engines file): EASEL_IMAGE_MODEL or the built-in demo model, on its own
runner. Several (EASEL_ENGINES): a runner per engine behind an `EngineRouter`, all
sharing the quotas; local engines on one device share one engine thread.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from bot.app.metrics import EaselMetrics
from bot.app.settings import Settings
from bot.llm.profiles import PromptProfile, profile_for
from imaging.demo import default_model_dir
from imaging.engine import ImageEngine
from imaging.engines.config import EngineSpec, load_engines_file
from imaging.engines.diffusers import DiffusersEngine
from imaging.engines.registry import EngineSet, NamedEngine, build_engines
from imaging.jobs import EngineRouter, JobRunner, LocalJobRunner, Quotas

log = logging.getLogger(__name__)

DEMO_NOTICE = (
    "easel is using its built-in DEMO model: a small model trained on simple drawn scenes "
    "(one or two of 12 things, 13 colours, plain or sky/sea/grass/night backgrounds, at 64 px "
    "shown at 256 px). For real images set EASEL_IMAGE_MODEL, e.g. "
    "EASEL_IMAGE_MODEL=stabilityai/sd-turbo (a GPU is strongly recommended); see the README."
)

# The same, as one plain line of the terminal chat.
DEMO_CHAT_NOTE = ("this is easel's small built-in demo model: it draws simple scenes (a few "
                  "things and colours on plain, sky, sea, grass or night backgrounds). Set "
                  "EASEL_IMAGE_MODEL for real images (see the README).")


def load_engine(settings: Settings, spec: EngineSpec | None = None) -> DiffusersEngine:
    """Blocking: loads the configured model, or the built-in demo model (shipped trained,
    in the package: nothing is downloaded or built). `spec`: a diffusers entry of the
    engines file, whose options win over the settings."""
    model = spec.option("model") if spec is not None else settings.image_model
    if not model:
        model = str(default_model_dir())
        log.warning(DEMO_NOTICE)
    engine = DiffusersEngine.load(
        model,
        device=spec.option("device", settings.device) if spec else settings.device,
        dtype=spec.option("dtype", settings.dtype) if spec else settings.dtype,
        default_steps=settings.image_steps if spec is None else None,
        guidance_scale=settings.guidance_scale if spec is None else None,
        max_batch_images=settings.max_batch_images,
        offline=settings.hf_hub_offline,
    )
    engine.warm_up()
    return engine


def load_engines(settings: Settings) -> EngineSet:
    """Blocking: the engines file's engines (local models load now), or the one engine
    of EASEL_IMAGE_MODEL. A bad file raises `EngineLoadError` naming entry and field."""
    if settings.engines is None:
        return single_engine(load_engine(settings))
    file = load_engines_file(settings.engines, settings.environment())
    return build_engines(file, lambda spec: load_engine(settings, spec))


def engine_profile(named: NamedEngine) -> PromptProfile:
    """How an engine wants its prompts: by its model (a CLIP model's token budget,
    sentences for OpenAI's models)."""
    identity = named.engine.identity
    model = identity.model
    if named.kind in ("openai", "azure-openai"):
        model = f"openai/{model}"
    return profile_for(model, demo=identity.demo)


def single_engine(engine: ImageEngine) -> EngineSet:
    """A one-engine deployment (no engines file), named after its model."""
    demo = engine.identity.demo
    name = "demo" if demo else re.sub(r"[^a-z0-9._-]+", "-", engine.name.lower()
                                      .rsplit("/", 1)[-1]).strip("-")[:32] or "default"
    return EngineSet([NamedEngine(name, "diffusers", engine,
                                  "the built-in demo model: simple drawn scenes" if demo else "")])


def build_runner(engines: EngineSet, settings: Settings, quotas: Quotas,
                 metrics: EaselMetrics) -> JobRunner:
    """One engine: its own runner. Several: a runner per engine behind a router, all
    sharing the quotas (local engines on one device share one engine thread: the
    registry gave them the same `DeviceThread`)."""
    def runner(named: NamedEngine) -> LocalJobRunner:
        return LocalJobRunner(named.engine, max_batch_images=None if named.remote
                              else settings.max_batch_images, quotas=quotas, metrics=metrics)

    if len(engines) == 1:
        return runner(engines.default)
    return EngineRouter({named.name: runner(named) for named in engines}, engines.default.name)


def engine_identity(engines: EngineSet) -> Callable[[str | None], tuple[str, str]]:
    """(engine, model) for a C2PA manifest's softwareAgent: the engine's name and its
    model, never a local path (the demo model says what it is)."""

    def identity(name: str | None) -> tuple[str, str]:
        named = engines.get(name) or engines.default
        identity = named.engine.identity
        if identity.demo:
            return named.name, "easel built-in demo model"
        model = identity.model
        return named.name, model.rstrip("/").rsplit("/", 1)[-1] if model.startswith(
            ("/", ".", "~")) else model

    return identity
