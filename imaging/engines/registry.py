"""The named engines of a deployment, built from the engines file (or the one default).

Local diffusers engines load at start-up and stay loaded: entries naming the same model
on the same device share one pipeline (a variant only changes the defaults: steps,
guidance, size), and every local engine on a device shares that device's engine thread,
so two pipelines never run on one GPU at once. Remote engines (OpenAI, Azure OpenAI,
ComfyUI) hold an HTTP session each, opened on first use and closed by `aclose`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from imaging.engine import (
    EngineCapabilities,
    EngineLoadError,
    ImageEngine,
    ImageRequest,
    ImageResult,
    LocalImageEngine,
    StepCallback,
)
from imaging.engines.azure_auth import entra_headers
from imaging.engines.comfyui import ComfyUIEngine
from imaging.engines.comfyui_workflow import Workflow, WorkflowError
from imaging.engines.config import EnginesFile, EngineSpec, parse_size_option
from imaging.engines.openai_images import OpenAIImagesEngine, limits_for
from imaging.engines.threaded import DeviceThread, ThreadedEngine

log = logging.getLogger(__name__)

# Blocking: loads a diffusers pipeline for a spec (model None = the built-in demo model).
LocalLoader = Callable[[EngineSpec], LocalImageEngine]

_KIND_TEXT = {
    "diffusers": "a local diffusers model",
    "openai": "OpenAI's image API",
    "azure-openai": "Azure OpenAI's image API",
    "comfyui": "a ComfyUI workflow",
}


@dataclass(slots=True)
class NamedEngine:
    name: str
    kind: str
    engine: ImageEngine
    description: str = ""
    speed: str = ""

    @property
    def capabilities(self) -> EngineCapabilities:
        return self.engine.capabilities

    @property
    def remote(self) -> bool:
        return self.engine.identity.remote

    @property
    def device(self) -> str:
        return self.engine.identity.device

    def summary(self) -> str:
        return self.description or _KIND_TEXT[self.kind]


class EngineSet:
    """The deployment's engines by name; the first is the default."""

    def __init__(self, engines: list[NamedEngine], arena: dict[str, Any] | None = None
                 ) -> None:
        """`arena`: the engines file's `[arena]` table, as written (bot/arena reads it)."""
        if not engines:
            raise EngineLoadError("no image engine configured")
        self._by_name = {e.name: e for e in engines}
        self.default = engines[0]
        self.arena = arena or {}

    def __iter__(self) -> Iterator[NamedEngine]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def names(self) -> list[str]:
        return list(self._by_name)

    def get(self, name: str | None) -> NamedEngine | None:
        return self.default if name is None else self._by_name.get(name)

    async def aclose(self) -> None:
        for named in self:
            await named.engine.aclose()


class Variant(ThreadedEngine):
    """A loaded local engine with other defaults (steps, guidance, size): the same
    pipeline, so `demo` and `demo-8` cost the memory of one. It draws in its device's
    thread, which every local engine on that device shares."""

    def __init__(self, inner: LocalImageEngine, name: str, *, steps: int | None,
                 guidance: float | None, size: tuple[int, int] | None,
                 thread: DeviceThread) -> None:
        self.inner = inner
        self.name = name
        self.default_steps = steps or inner.default_steps
        self.guidance_scale = guidance if guidance is not None else inner.guidance_scale
        self.default_size = size or inner.default_size
        self.max_batch_images = inner.max_batch_images
        self.capabilities = inner.capabilities
        self.identity = inner.identity
        self.thread = thread
        # The shared pipeline's timed warm-up (it loaded warm): its speed is this variant's too.
        self.warm_up_timing = inner.warm_up_timing

    def generate(self, reqs: list[ImageRequest], on_step: StepCallback | None = None
                 ) -> list[ImageResult]:
        return self.inner.generate(reqs, on_step)

    def warm_up(self) -> None:
        self.inner.warm_up()
        self.warm_up_timing = self.inner.warm_up_timing


EntraHeaders = Callable[[EngineSpec], Callable[[], Awaitable[dict[str, str]]]]


def build_engines(file: EnginesFile, load_local: LocalLoader,
                  headers_for_entra: EntraHeaders | None = None) -> EngineSet:
    """Blocking (local models load here). Raises `EngineLoadError` naming the entry.
    `headers_for_entra`: Azure's Entra ID token headers (default: azure-identity)."""
    if headers_for_entra is None:
        headers_for_entra = entra_headers
    loaded: dict[tuple[Any, ...], LocalImageEngine] = {}
    threads: dict[str, DeviceThread] = {}
    out: list[NamedEngine] = []
    for spec in file.engines:
        engine: ImageEngine
        try:
            if spec.kind == "diffusers":
                engine = _local(spec, load_local, loaded, threads)
            elif spec.kind in ("openai", "azure-openai"):
                engine = _openai(spec, headers_for_entra)
            else:
                engine = _comfyui(spec)
        except EngineLoadError as exc:
            raise EngineLoadError(f"engine {spec.name!r}: {exc}") from exc
        out.append(NamedEngine(spec.name, spec.kind, engine, spec.description, spec.speed))
        log.info("engine %r ready (%s)", spec.name, spec.kind)
    return EngineSet(out, file.arena)


def _local(spec: EngineSpec, load_local: LocalLoader,
           loaded: dict[tuple[Any, ...], LocalImageEngine], threads: dict[str, DeviceThread]
           ) -> Variant:
    key = (spec.option("model"), spec.option("device"), spec.option("dtype"))
    if key not in loaded:
        loaded[key] = load_local(spec)
    inner = loaded[key]
    device = inner.identity.device
    size = parse_size_option(spec.option("size")) if spec.option("size") else None
    guidance = spec.option("guidance")
    return Variant(inner, spec.name, steps=spec.option("steps"),
                   guidance=float(guidance) if guidance is not None else None, size=size,
                   thread=threads.setdefault(device, DeviceThread(device)))


def _openai(spec: EngineSpec, headers_for_entra: EntraHeaders) -> ImageEngine:
    if spec.kind == "openai":
        base = str(spec.option("base_url", "https://api.openai.com/v1")).rstrip("/")
        model = str(spec.option("model"))
        gen_url, edit_url = f"{base}/images/generations", f"{base}/images/edits"
        headers = _static({"Authorization": f"Bearer {spec.secret}"})
        provider, body_model = "OpenAI", model
    else:
        endpoint = str(spec.option("endpoint")).rstrip("/")
        dep, version = spec.option("deployment"), spec.option("api_version")
        root = f"{endpoint}/openai/deployments/{dep}/images"
        gen_url = f"{root}/generations?api-version={version}"
        edit_url = f"{root}/edits?api-version={version}"
        model = str(spec.option("model", dep))
        if spec.option("auth", "key") == "entra":
            headers = headers_for_entra(spec)
        else:
            headers = _static({"api-key": str(spec.secret)})
        provider, body_model = "Azure OpenAI", None
    return OpenAIImagesEngine(
        name=spec.name, provider=provider, generations_url=gen_url, edits_url=edit_url,
        headers=headers, limits=limits_for(model, spec.options), model=body_model,
        quality=spec.option("quality"), timeout_s=spec.timeout_s,
        retries=int(spec.option("retries", 3)), max_concurrency=spec.max_concurrency)


def _comfyui(spec: EngineSpec) -> ImageEngine:
    try:
        workflow = Workflow.load(spec.path("workflow"))  # type: ignore[arg-type]
        edit_path, mask_path, up_path = (spec.path(k) for k in (
            "edit_workflow", "mask_workflow", "upscale_workflow"))
        edit = Workflow.load(edit_path, edit=True) if edit_path else None
        masked = Workflow.load(mask_path, mask=True) if mask_path else None
        upscale = Workflow.load(up_path, edit=True) if up_path else None
    except WorkflowError as exc:
        raise EngineLoadError(str(exc)) from None
    sizes = tuple(parse_size_option(s) for s in spec.option("sizes", [])) or None
    size = parse_size_option(spec.option("size")) if spec.option("size") else \
        (sizes[0] if sizes else (1024, 1024))
    return ComfyUIEngine(name=spec.name, base_url=str(spec.option("base_url")),
                         workflow=workflow, edit_workflow=edit, mask_workflow=masked,
                         upscale_workflow=upscale, default_size=size, sizes=sizes,
                         default_steps=int(spec.option("steps", 20)),
                         timeout_s=spec.timeout_s, max_concurrency=spec.max_concurrency)


def _static(headers: dict[str, str]) -> Callable[[], Awaitable[dict[str, str]]]:
    async def get() -> dict[str, str]:
        return headers

    return get
