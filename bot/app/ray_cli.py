"""`easel ray deploy [--replicas N | --autoscale MIN:MAX] [--gpus-per-replica G]` and
`easel ray status [--json]`: the image deployment on the cluster at EASEL_RAY_ADDRESS.

The replicas load the model of EASEL_IMAGE_MODEL (or the demo model) with this machine's
EASEL_ settings for device, dtype, steps and batch size; run it again to update them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from bot.app.settings import Settings


def add_parser(sub: argparse._SubParsersAction, settings: Callable[[], Settings]) -> None:
    """`settings`: the CLI's loader (it exits with the message on a bad setting)."""
    r = sub.add_parser("ray", help="the Ray Serve image workers (EASEL_RUNNER=ray)")
    rsub = r.add_subparsers(dest="ray_command", required=True)
    d = rsub.add_parser("deploy", help="deploy or update the image deployment")
    group = d.add_mutually_exclusive_group()
    group.add_argument("--replicas", type=int, default=None, help="a fixed replica count")
    group.add_argument("--autoscale", default=None, metavar="MIN:MAX",
                       help="let Serve scale between MIN and MAX replicas")
    d.add_argument("--gpus-per-replica", type=float, default=None,
                   help="GPUs each replica reserves (default 1 on a GPU device, else 0)")
    d.set_defaults(func=lambda args: cmd_deploy(args, settings()))
    s = rsub.add_parser("status", help="the replicas, their state and their queue lengths")
    s.add_argument("--json", action="store_true", help="one JSON object")
    s.set_defaults(func=lambda args: cmd_status(args, settings()))


def cmd_deploy(args: argparse.Namespace, settings: Settings) -> int:
    # lazy: ray is optional (easelbot[ray])
    from imaging.jobs import ray_cluster

    # lazy: ray is optional (easelbot[ray])
    from imaging.jobs.serve_worker import WorkerConfig

    scale = ray_cluster.Scale(replicas=args.replicas or 1)
    if args.autoscale:
        try:
            low, high = (int(x) for x in args.autoscale.split(":"))
            assert 0 <= low <= high and high >= 1
        except (ValueError, AssertionError):
            print("easel: --autoscale wants MIN:MAX, e.g. 1:4", file=sys.stderr)
            return 2
        scale = ray_cluster.Scale(replicas=None, min_replicas=low, max_replicas=high)
    ray_cluster.connect(settings.ray_address)
    gpus = args.gpus_per_replica
    if gpus is None:
        gpus = default_gpus(settings.device, ray_cluster.cluster_gpus())
    scale = ray_cluster.Scale(scale.replicas, scale.min_replicas, scale.max_replicas, gpus)
    config = WorkerConfig(model=settings.image_model, device=settings.device,
                          dtype=settings.dtype, steps=settings.image_steps,
                          guidance_scale=settings.guidance_scale,
                          max_batch_images=settings.max_batch_images,
                          offline=settings.hf_hub_offline)
    ray_cluster.deploy(settings.ray_app, config, scale)
    print(json.dumps(ray_cluster.status(settings.ray_app), indent=2, default=str))
    return 0


def default_gpus(device: str, cluster_gpus: float) -> float:
    """A whole GPU per replica where the model can use one: EASEL_DEVICE=cuda, or `auto`
    on a cluster that has GPUs. Else none (cpu, Apple's mps, which Ray does not count as
    a GPU, or a CPU-only cluster): a replica asking for a GPU there would never start."""
    if device == "cuda" or (device == "auto" and cluster_gpus > 0):
        return 1.0
    return 0.0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    # lazy: ray is optional (easelbot[ray])
    from imaging.jobs import ray_cluster

    ray_cluster.connect(settings.ray_address)
    status = ray_cluster.status(settings.ray_app)
    if args.json:
        print(json.dumps(status, default=str))
        return 0
    print(f"app {status['app']}: {status['status']} ({status.get('deployment_status')})")
    for r in status["replicas"]:
        print(f"  replica {r.get('replica')}: {r.get('state')}, {r.get('ongoing')} in progress")
    return 0 if status["status"] == "RUNNING" else 1
