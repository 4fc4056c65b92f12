"""The Ray deploy files match Ray Serve's schema and the code they name.

deploy/ray/serve.yaml (for `serve deploy`) and the Serve config embedded in
deploy/kuberay/rayservice.yaml are checked against `ray.serve.schema.ServeDeploySchema`,
their import path against the module it names, their names against the code's, and
their `args` against `WorkerConfig`'s fields. No Ray cluster is started.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.ray_local import RAY_ENV  # noqa: E402

os.environ.update(RAY_ENV)  # before anything imports ray (see tests/support/ray_local.py)

yaml = pytest.importorskip("yaml")
schema = pytest.importorskip("ray.serve.schema")

from imaging.jobs import serve_routing, serve_worker  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SERVE_YAML = ROOT / "deploy" / "ray" / "serve.yaml"
RAYSERVICE_YAML = ROOT / "deploy" / "kuberay" / "rayservice.yaml"


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _serve_configs() -> list[tuple[str, dict[str, Any]]]:
    service = _load(RAYSERVICE_YAML)
    return [("serve.yaml", _load(SERVE_YAML)),
            ("rayservice.yaml serveConfigV2", yaml.safe_load(service["spec"]["serveConfigV2"]))]


CONFIGS = _serve_configs()
IDS = [name for name, _ in CONFIGS]


def _validate(config: dict[str, Any]) -> Any:
    model = schema.ServeDeploySchema
    if hasattr(model, "model_validate"):  # pydantic 2
        return model.model_validate(config)
    return model.parse_obj(config)


def _fields(model: Any) -> set[str]:
    return set(getattr(model, "model_fields", None) or model.__fields__)


def _unknown_keys(config: dict[str, Any]) -> list[str]:
    """Keys Serve's schema would ignore without a word (it accepts extra fields, for
    forward compatibility): a misspelt `num_replica` would deploy one replica."""
    from ray.serve.config import AutoscalingConfig, RequestRouterConfig

    out = [k for k in config if k not in _fields(schema.ServeDeploySchema)]
    for app in config.get("applications") or []:
        out += [f"applications.{k}" for k in app if k not in _fields(schema.ServeApplicationSchema)]
        for dep in app.get("deployments") or []:
            out += [f"deployments.{k}" for k in dep if k not in _fields(schema.DeploymentSchema)]
            actor = dep.get("ray_actor_options") or {}
            out += [f"ray_actor_options.{k}" for k in actor
                    if k not in _fields(schema.RayActorOptionsSchema)]
            scaling = dep.get("autoscaling_config") or {}
            out += [f"autoscaling_config.{k}" for k in scaling
                    if k not in _fields(AutoscalingConfig)]
            routing = dep.get("request_router_config") or {}
            out += [f"request_router_config.{k}" for k in routing
                    if k not in _fields(RequestRouterConfig)]
    return out


@pytest.mark.parametrize("config", [c for _, c in CONFIGS], ids=IDS)
def test_config_matches_serve_schema(config: dict[str, Any]) -> None:
    parsed = _validate(config)
    assert len(parsed.applications) == 1
    assert not _unknown_keys(config), "fields Ray Serve does not know"


def test_unknown_keys_are_caught() -> None:
    app = {"name": "a", "import_path": "m:a", "routeprefix": None,
           "deployments": [{"name": "D", "num_replica": 2, "ray_actor_options": {"num_gpu": 1},
                            "autoscaling_config": {"max_replica": 2},
                            "request_router_config": {"request_router_clas": "m:R"}}]}
    assert _unknown_keys({"proxy_locaton": "Disabled", "applications": [app]}) == [
        "proxy_locaton", "applications.routeprefix", "deployments.num_replica",
        "ray_actor_options.num_gpu", "autoscaling_config.max_replica",
        "request_router_config.request_router_clas"]


@pytest.mark.parametrize("config", [c for _, c in CONFIGS], ids=IDS)
def test_application_matches_the_code(config: dict[str, Any]) -> None:
    (app,) = config["applications"]
    assert app["name"] == serve_worker.APP
    assert app["import_path"] == serve_worker.IMPORT_PATH
    assert app.get("route_prefix", "/") is None  # handles only, no HTTP route
    module_name, _, attr = app["import_path"].partition(":")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, attr))
    assert attr == "app_builder"


@pytest.mark.parametrize("config", [c for _, c in CONFIGS], ids=IDS)
def test_args_are_worker_config_fields(config: dict[str, Any]) -> None:
    (app,) = config["applications"]
    fields = {f.name for f in dataclasses.fields(serve_worker.WorkerConfig)}
    args = app.get("args") or {}
    unknown = set(args) - fields
    assert not unknown, f"not WorkerConfig fields: {sorted(unknown)}"
    cfg = serve_worker.WorkerConfig(**args)  # what a replica does with them
    assert cfg.engine_factory is None  # a deploy file runs the real engine
    assert cfg.max_batch_images >= 1


@pytest.mark.parametrize("config", [c for _, c in CONFIGS], ids=IDS)
def test_deployment_is_the_image_worker_on_a_gpu(config: dict[str, Any]) -> None:
    (app,) = config["applications"]
    names = [d["name"] for d in app["deployments"]]
    assert names == [serve_worker.DEPLOYMENT]
    (deployment,) = app["deployments"]
    assert deployment["ray_actor_options"]["num_gpus"] >= 1
    # One batch call per replica, routed to the least busy, as `easel ray deploy` sets it
    # (imaging/jobs/ray_cluster.py); the router class must import where the bot runs.
    assert deployment["max_ongoing_requests"] == 1
    router = deployment["request_router_config"]["request_router_class"]
    assert router == serve_routing.PATH
    module_name, _, attr = router.partition(":")
    assert getattr(importlib.import_module(module_name), attr) is serve_routing.LeastBusyRouter


def test_serve_yaml_has_no_http_proxies() -> None:
    assert _load(SERVE_YAML)["proxy_location"] == "Disabled"


def test_both_files_run_the_same_application() -> None:
    (plain,), (embedded,) = (c["applications"] for _, c in CONFIGS)
    assert plain == embedded


def test_rayservice_worker_group_requests_a_gpu() -> None:
    service = _load(RAYSERVICE_YAML)
    assert service["apiVersion"] == "ray.io/v1"
    assert service["kind"] == "RayService"
    cluster = service["spec"]["rayClusterConfig"]
    assert cluster["headGroupSpec"]["template"]["spec"]["containers"]
    groups = cluster["workerGroupSpecs"]
    assert groups
    for group in groups:
        assert isinstance(group["rayStartParams"], dict)
        assert all(isinstance(v, str) for v in group["rayStartParams"].values())
        (container,) = group["template"]["spec"]["containers"]
        limits = container["resources"]["limits"]
        assert int(limits["nvidia.com/gpu"]) >= 1
    head_params = cluster["headGroupSpec"]["rayStartParams"]
    assert all(isinstance(v, str) for v in head_params.values())  # KubeRay wants strings
