"""The Ray Serve deployment: one replica per GPU, its engine loaded once, batches streamed.

`ImageWorker.generate(call)` is what the bot calls: one streamed call per fair batch
(`handle.options(stream=True)`), so the batch's jobs arrive together. Calls that reach a
replica together meet in `_batched`, Serve's `@serve.batch` queue, bounded by image count
(`batch_size_fn`): several bot processes' batches, or the calls that waited at the
replica's door (imaging/jobs/gate.py) while its engine ran, share one pipeline call.
Inside a batch the jobs are grouped by batch key, so incompatible requests never share a
pipeline call, and each group runs as one call in the replica's engine thread. Steps go
back to the group's callers as events (the first, each preview, a few a second); the last
event of each job carries its pictures as raw RGB.

Cancelling a call (the bot's `response.cancel()`, once all of its jobs are cancelled)
before its batch starts drops it from the batch (Serve skips cancelled requests); once it
runs, the replica notes its job ids and the step callback stops a group when all of its
jobs are cancelled.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from ray import serve

from imaging.demo import default_model_dir
from imaging.engine import ImageRequest, Interrupted, LocalImageEngine, StepInfo
from imaging.engines.diffusers import DiffusersEngine
from imaging.jobs.batch import RunningBatch
from imaging.jobs.gate import BatchGate
from imaging.jobs.wire import (
    BatchCall,
    BatchInfo,
    WireJob,
    WireRequest,
    WorkerEvent,
    WorkerInfo,
    image_to_wire,
    request_from_dict,
)

log = logging.getLogger(__name__)

APP = "easel"  # the Serve application's default name (EASEL_RAY_APP)
DEPLOYMENT = "ImageWorker"  # deploy/ray/serve.yaml and deploy/kuberay/rayservice.yaml
IMPORT_PATH = "imaging.jobs.serve_worker:app_builder"
PREVIEW_INTERVAL_S = 1.0
PROGRESS_INTERVAL_S = 0.25  # at most about four step events a second per batch


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What a replica loads; plain values, so it travels in a Serve config's `args`."""

    model: str | None = None  # a diffusers folder or hub id; None: the built-in demo model
    device: str = "auto"
    dtype: str = "auto"
    steps: int | None = None
    guidance_scale: float | None = None
    max_batch_images: int = 4
    # How long a batch waits for more calls to join it. A call is already a whole fair
    # batch and a replica takes one call at a time (max_ongoing_requests 1), so nothing
    # could join: waiting would only add latency. Set it with max_ongoing_requests > 1.
    batch_wait_s: float = 0.0
    offline: bool = True
    # Another engine class, named as "module:callable" and called with `engine_args` and
    # `max_batch_images` (bench/scale.py names a stand-in GPU this way); None: diffusers.
    engine_factory: str | None = None
    engine_args: dict[str, Any] = field(default_factory=dict)
    max_replicas: int | None = None  # autoscaling's ceiling (the bot leaves room to grow)


def load_worker_engine(cfg: WorkerConfig) -> LocalImageEngine:
    if cfg.engine_factory is not None:
        module, _, attr = cfg.engine_factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
        engine: LocalImageEngine = factory(**cfg.engine_args, max_batch_images=cfg.max_batch_images)
        return engine
    engine = DiffusersEngine.load(cfg.model or str(default_model_dir()), device=cfg.device,
                                  dtype=cfg.dtype, default_steps=cfg.steps,
                                  guidance_scale=cfg.guidance_scale,
                                  max_batch_images=cfg.max_batch_images, offline=cfg.offline)
    engine.warm_up()
    return engine


def _images(calls: list[BatchCall]) -> int:
    return sum(int(j["request"]["n"]) for call in calls for j in call["jobs"])


@dataclass(slots=True)
class _Slot:
    """A job of a running group, as `RunningBatch` (previews per job) wants it."""

    request: ImageRequest


@serve.deployment(name=DEPLOYMENT, max_ongoing_requests=16, health_check_period_s=2,
                  health_check_timeout_s=30, graceful_shutdown_timeout_s=5)
class ImageWorker:
    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config = WorkerConfig(**(config or {}))
        self.engine = load_worker_engine(self.config)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="easel-replica-engine")
        self._cancelled: set[str] = set()
        self._gate = BatchGate(self.config.max_batch_images)
        self.batches = 0
        try:
            self.replica = serve.get_replica_context().replica_id.unique_id
        except Exception:  # outside Serve (unit use)
            self.replica = secrets.token_hex(4)
        batched: Any = self._batched  # type: ignore[misc]  # (Ray's typing, see _batched)
        batched.set_max_batch_size(self.config.max_batch_images)  # images, not calls
        batched.set_batch_wait_timeout_s(self.config.batch_wait_s)

    def describe(self) -> WorkerInfo:
        """The engine as the bot needs to know it (sizes, steps, limits), loaded nowhere else."""
        e = self.engine
        return WorkerInfo(name=e.name, default_size=list(e.default_size),
                          default_steps=e.default_steps,
                          max_batch_images=self.config.max_batch_images,
                          guidance_scale=e.guidance_scale, device=e.identity.device,
                          is_demo=e.identity.demo, model_name=e.identity.model,
                          capabilities=asdict(e.capabilities), replica=self.replica,
                          max_replicas=self.config.max_replicas)

    async def generate(self, call: BatchCall) -> AsyncIterator[list[WorkerEvent]]:
        """`{"jobs": [{"id", "request"}, ...]}`: a fair batch from the bot. Streams lists of
        events for its jobs; the last event of each job is its result."""
        jobs = call["jobs"]
        door = jobs[0]["id"]
        await self._gate.enter(door, _images([call]))  # while the engine runs
        try:
            batched: Any = self._batched  # type: ignore[misc]  # (Ray's typing, see _batched)
            async for events in batched(call):
                if events:  # []: a group without this call's jobs is running
                    yield events
        except (asyncio.CancelledError, GeneratorExit):
            self._cancelled.update(j["id"] for j in jobs)  # stopped at the next step
            self._gate.left(door)  # if its batch had not started yet
            raise

    # Ray types `serve.batch` for plain functions of lists, not for the async-generator
    # methods it supports: the decorator and the calls below are typed loosely.
    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.0,  # type: ignore[arg-type]
                 batch_size_fn=_images)
    async def _batched(self, calls: list[BatchCall]) -> AsyncIterator[list[Any]]:  # type: ignore[misc]
        """Calls that reached the replica together: their jobs in one list, grouped by
        batch key, one pipeline call per group; each call hears its own jobs' events."""
        self.batches += 1
        batch_id = f"{self.replica}-{self.batches}"
        jobs = [job for call in calls for job in call["jobs"]]
        owner = [c for c, call in enumerate(calls) for _ in call["jobs"]]
        left = [len(call["jobs"]) for call in calls]
        self._gate.started([call["jobs"][0]["id"] for call in calls])
        try:
            for group in _groups(jobs, self.config.max_batch_images):
                async for events in self._run_group(jobs, group, batch_id):
                    out: list[Any] = [StopIteration if n == 0 else [] for n in left]
                    for i, event in events.items():
                        out[owner[i]].append(event)
                    yield out
                for i in group:
                    left[owner[i]] -= 1
        finally:
            for j in jobs:
                self._cancelled.discard(j["id"])
            self._gate.finished()

    async def _run_group(self, jobs: list[WireJob], group: list[int], batch_id: str
                         ) -> AsyncIterator[dict[int, WorkerEvent]]:
        ids = [jobs[i]["id"] for i in group]
        if all(j in self._cancelled for j in ids):
            yield {i: {"type": "cancelled", "job": jobs[i]["id"]} for i in group}
            return
        reqs = [request_from_dict(jobs[i]["request"]) for i in group]
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        run = RunningBatch([_Slot(r) for r in reqs], started=time.monotonic(), expected_s=0.0)

        sent = [float("-inf")]  # when a step event last went out

        def on_step(info: StepInfo) -> None:  # the engine thread
            if all(j in self._cancelled for j in ids):
                raise Interrupted("every job of the group was cancelled")
            previews = None
            now = time.monotonic()
            if run.preview_due(info.step, info.total, now, PREVIEW_INTERVAL_S):
                try:
                    previews = info.previews()
                except Exception:  # a preview is a nicety
                    log.exception("preview failed")
                if previews is not None:
                    run.shown(now)
            # Each event crosses the cluster: the first step (the job has started), each
            # preview and a few steps a second are enough for a progress bar.
            if previews is None and info.step > 1 and now - sent[0] < PROGRESS_INTERVAL_S:
                return
            sent[0] = now
            loop.call_soon_threadsafe(events.put_nowait, ("step", (info, previews)))

        def work() -> Any:
            try:
                result: Any = ("done", self.engine.generate(reqs, on_step))
            except Interrupted:
                result = ("cancelled", None)
            except Exception as exc:  # the callers get the error; the replica lives on
                log.exception("image engine failed on a batch of %d job(s)", len(reqs))
                result = ("error", f"the image model failed ({type(exc).__name__})")
            loop.call_soon_threadsafe(events.put_nowait, result)

        future = loop.run_in_executor(self._executor, work)
        t0 = time.perf_counter()
        while True:
            kind, payload = await events.get()
            if kind == "step":
                info, previews = payload
                shots = run.split(previews)
                yield {i: {"type": "progress", "job": jobs[i]["id"], "step": info.step,
                           "total": info.total,
                           "preview": image_to_wire(shot) if shot is not None else None}
                       for i, shot in zip(group, shots, strict=True)}
                continue
            break
        await future
        seconds = time.perf_counter() - t0
        if kind == "done":
            batch = BatchInfo(id=batch_id, jobs=len(group), replica=self.replica,
                              seconds=seconds)
            yield {i: {"type": "result", "job": jobs[i]["id"],
                       "images": [image_to_wire(im) for im in res.images], "seeds": res.seeds,
                       "revised_prompt": res.revised_prompt, "batch": batch}
                   for i, res in zip(group, payload, strict=True)}
        elif kind == "cancelled":
            yield {i: {"type": "cancelled", "job": jobs[i]["id"]} for i in group}
        else:
            yield {i: {"type": "error", "job": jobs[i]["id"], "message": payload} for i in group}


def _groups(jobs: list[WireJob], max_images: int) -> list[list[int]]:
    """Indices of the batch's jobs, grouped by batch key, each group within the image cap;
    in arrival order (which is the bot's fair order)."""
    groups: list[tuple[tuple[object, ...], list[int]]] = []
    for i, job in enumerate(jobs):
        key = _key(job["request"])
        n = int(job["request"]["n"])
        for gkey, members in groups:
            if gkey == key and sum(int(jobs[m]["request"]["n"]) for m in members) + n <= max_images:
                members.append(i)
                break
        else:
            groups.append((key, [i]))
    return [members for _, members in groups]


def _key(request: WireRequest) -> tuple[object, ...]:
    plain = request_from_dict(WireRequest(  # the key without decoding the images
        prompt="", n=request["n"], width=request["width"], height=request["height"],
        steps=request["steps"], guidance_scale=request["guidance_scale"], seed=0,
        negative_prompt=request["negative_prompt"], strength=request["strength"]))
    # An edit and a masked edit take other pipeline calls than a fresh picture.
    return (*plain.batch_key(), "init_png" in request, "mask_png" in request)


def app_builder(args: dict[str, Any]) -> Any:
    """`serve deploy deploy/ray/serve.yaml`'s entry: the worker bound to its config (the
    YAML's `args`, the same fields as `WorkerConfig`)."""
    deployment: Any = ImageWorker  # a Serve Deployment (its decorator's types say a class)
    return deployment.bind(dict(args or {}))
