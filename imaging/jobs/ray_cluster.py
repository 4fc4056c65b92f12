"""The bot's side of a Ray cluster: connect, deploy the workers, read their state.

Everything here blocks (Ray's client calls), so callers run it in a thread, except the
streamed calls of `ServeWorkers`, which are Serve's own asyncio API. The deployment has
no HTTP ingress (`proxy_location="Disabled"`): the bot talks to it through a handle.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass, replace
from typing import Any

import ray
from ray import serve
from ray.exceptions import (
    ActorUnschedulableError,
    NodeDiedError,
    RayActorError,
    TaskCancelledError,
    WorkerCrashedError,
)
from ray.serve.config import ProxyLocation, RequestRouterConfig
from ray.serve.exceptions import DeploymentUnavailableError, RequestCancelledError

from imaging.jobs import serve_routing
from imaging.jobs.serve_worker import DEPLOYMENT, ImageWorker, WorkerConfig
from imaging.jobs.wire import BatchCall, WorkerInfo

log = logging.getLogger(__name__)

REPLICA_PREFIX = "SERVE_REPLICA::"


def connect(address: str) -> None:
    """Join the cluster as a client (`auto`, `host:port` or `ray://host:10001`)."""
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)


def cluster_gpus() -> float:
    """GPUs the cluster has in all (its nodes as they are now)."""
    return float(ray.cluster_resources().get("GPU", 0.0))


@dataclass(frozen=True, slots=True)
class Scale:
    """`easel ray deploy`'s replica options."""

    replicas: int | None = 1
    min_replicas: int | None = None  # autoscaling when both are set
    max_replicas: int | None = None
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0

    @property
    def autoscaling(self) -> bool:
        return self.min_replicas is not None and self.max_replicas is not None


def deploy(app: str, config: WorkerConfig, scale: Scale, *, blocking_timeout_s: float = 600
           ) -> None:
    """Deploy or update the image deployment (replicas load their engine once)."""
    options: dict[str, Any] = {
        "ray_actor_options": {"num_gpus": scale.gpus_per_replica,
                              "num_cpus": scale.cpus_per_replica},
        # A call is a whole fair batch and a replica takes one at a time: the next one
        # waits in the handle for the first replica that frees (serve_routing looks at
        # all of them), never behind a busy one. (Ray warns that this is below the batch
        # size; that counts images, not calls.) Raise it, with a batch wait, to let small
        # batches from several bot processes share a pipeline call.
        "max_ongoing_requests": 1,
        # An import path is documented and works; Ray's annotation names only a dict.
        "request_router_config": RequestRouterConfig(
            request_router_class=serve_routing.PATH),  # type: ignore[arg-type]
    }
    if scale.autoscaling:
        options["autoscaling_config"] = {
            "min_replicas": scale.min_replicas, "max_replicas": scale.max_replicas,
            "target_ongoing_requests": 1}  # a call is a batch: one per replica is busy
        config = replace(config, max_replicas=scale.max_replicas)
    else:
        options["num_replicas"] = scale.replicas
    serve.start(proxy_location=ProxyLocation.Disabled)
    deployment: Any = ImageWorker  # a Serve Deployment (its decorator's types say a class)
    worker = deployment.options(**options).bind(asdict(config))
    serve.run(worker, name=app, route_prefix=None, blocking=False)
    serve.status()  # raises early on a broken controller
    _wait_running(app, blocking_timeout_s)


def _wait_running(app: str, timeout_s: float) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = serve.status().applications.get(app)
        if status is not None and status.status == "RUNNING":
            return
        if status is not None and status.status == "DEPLOY_FAILED":
            raise RuntimeError(f"the deployment failed: {status.message}")
        time.sleep(0.25)
    raise TimeoutError(f"application {app!r} was not running after {timeout_s:.0f} s")


def replicas(app: str) -> list[dict[str, Any]]:
    """Each replica of the image deployment: its id, state and requests in progress."""
    status = serve.status().applications.get(app)
    deployment = status.deployments.get(DEPLOYMENT) if status is not None else None
    out = []
    prefix = f"{REPLICA_PREFIX}{app}#{DEPLOYMENT}#"
    for actor in ray.util.list_named_actors(all_namespaces=True):
        if actor["namespace"] != "serve" or not actor["name"].startswith(prefix):
            continue
        entry: dict[str, Any] = {"replica": actor["name"][len(prefix):], "actor": actor["name"]}
        try:
            handle = ray.get_actor(actor["name"], namespace="serve")
            entry["ongoing"] = ray.get(handle.get_num_ongoing_requests.remote(), timeout=5)
            entry["state"] = "RUNNING"
        except Exception as exc:  # starting, stopping or gone
            entry["ongoing"] = None
            entry["state"] = type(exc).__name__
        out.append(entry)
    if deployment is not None:
        states = {str(k.value if hasattr(k, "value") else k): v
                  for k, v in deployment.replica_states.items()}
        for entry in out:
            entry["deployment_status"] = str(deployment.status.value)
        if not out and states:
            out.append({"replica": None, "state": states, "ongoing": None})
    return out


def status(app: str) -> dict[str, Any]:
    overview = serve.status().applications.get(app)
    if overview is None:
        return {"app": app, "status": "NOT_DEPLOYED", "replicas": []}
    deployment = overview.deployments.get(DEPLOYMENT)
    return {
        "app": app,
        "status": str(overview.status.value if hasattr(overview.status, "value") else overview.status),
        "deployment": DEPLOYMENT,
        "deployment_status": str(deployment.status.value) if deployment else None,
        "replica_states": {str(k.value if hasattr(k, "value") else k): v
                           for k, v in (deployment.replica_states.items() if deployment else [])},
        "replicas": replicas(app),
    }


def running_replicas(app: str) -> int:
    overview = serve.status().applications.get(app)
    deployment = overview.deployments.get(DEPLOYMENT) if overview is not None else None
    if deployment is None:
        return 0
    return sum(v for k, v in deployment.replica_states.items()
               if str(k.value if hasattr(k, "value") else k) == "RUNNING")


class ServeWorkers:
    """The image deployment behind a handle: streamed calls, room, what errors mean."""

    def __init__(self, app: str, info: WorkerInfo) -> None:
        self.app = app
        self.info = info  # the replicas' `describe()`
        self.name = str(info.get("name", "ray"))
        self.max_batch_images = int(info["max_batch_images"])
        self.max_replicas = info.get("max_replicas")
        handle = serve.get_deployment_handle(DEPLOYMENT, app_name=app)
        self._stream = handle.options(method_name="generate", stream=True)

    @classmethod
    async def open(cls, app: str) -> ServeWorkers:
        handle = serve.get_deployment_handle(DEPLOYMENT, app_name=app)
        info = await handle.options(method_name="describe").remote()
        return cls(app, info)

    def stream(self, call: BatchCall) -> Any:
        return self._stream.remote(call)

    async def capacity(self) -> int:
        running = await asyncio.to_thread(running_replicas, self.app)
        # Autoscaling scales on requests in progress: one batch more than the running
        # replicas can take is what tells Serve that another replica would be busy.
        headroom = 1 if self.max_replicas and running < self.max_replicas else 0
        return max(1, running + headroom) * self.max_batch_images

    def lost(self, exc: BaseException) -> bool:
        return isinstance(exc, (RayActorError, WorkerCrashedError, NodeDiedError,
                                ActorUnschedulableError, DeploymentUnavailableError))

    def cancelled(self, exc: BaseException) -> bool:
        return isinstance(exc, (RequestCancelledError, TaskCancelledError))
