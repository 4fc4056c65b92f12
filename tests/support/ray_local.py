"""A one-machine Ray cluster on loopback, for the tests and bench/scale.py.

`ray start --head` with every port chosen free and every address 127.0.0.1. Ray 2.60
needs three settings for that: `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` (else it ignores
`--node-ip-address` and takes the host's network address), `RAY_AUTH_MODE=disabled`
(its default token auth breaks `RAY_ADDRESS` clients started without the token) and
explicit ports (its GCS defaults to 6379, which is Redis's). Processes started with
`env()` (bots, CLIs) join it with the same settings.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

RAY_ENV = {
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DEDUP_LOGS": "0",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_binary() -> str:
    found = Path(sys.executable).with_name("ray")
    return str(found) if found.exists() else (shutil.which("ray") or "ray")


@dataclass
class LocalCluster:
    cpus: int = 4
    gpus: int = 0
    address: str = ""
    temp_dir: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="easel-ray-"))

    def env(self) -> dict[str, str]:
        """The environment for a process that joins this cluster."""
        return {**os.environ, **RAY_ENV, "RAY_ADDRESS": self.address}

    def start(self) -> str:
        os.environ.update(RAY_ENV)
        gcs = free_port()
        cmd = [_ray_binary(), "start", "--head", "--node-ip-address=127.0.0.1",
               f"--port={gcs}", "--include-dashboard=false", "--disable-usage-stats",
               f"--num-cpus={self.cpus}", f"--num-gpus={self.gpus}",
               f"--temp-dir={self.temp_dir}",
               f"--ray-client-server-port={free_port()}",
               f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}",
               f"--dashboard-agent-listen-port={free_port()}",
               f"--dashboard-agent-grpc-port={free_port()}",
               f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}"]
        # The repo root on the workers' path: a bench's replicas load tests/support engines.
        repo = str(Path(__file__).resolve().parents[2])
        path = os.pathsep.join(p for p in (repo, os.environ.get("PYTHONPATH", "")) if p)
        done = subprocess.run(cmd, env={**os.environ, **RAY_ENV, "PYTHONPATH": path},
                              capture_output=True,
                              text=True, timeout=180)
        if done.returncode != 0:
            raise RuntimeError(f"ray start failed: {done.stderr[-2000:]}")
        self.address = f"127.0.0.1:{gcs}"
        os.environ["RAY_ADDRESS"] = self.address
        log.info("local Ray cluster at %s", self.address)
        return self.address

    def stop(self) -> None:
        ray = sys.modules.get("ray")
        if ray is not None and ray.is_initialized():
            ray.shutdown()  # a connected driver would hang on a cluster that is gone
        # Only this cluster's processes (`ray stop` would stop every cluster on the
        # machine): they all name its temp dir on their command lines.
        # Their children (agents, workers) rename themselves "ray::...": kill those first.
        found = subprocess.run(["pgrep", "-f", self.temp_dir], capture_output=True, text=True)
        for pid in found.stdout.split():
            subprocess.run(["pkill", "-9", "-P", pid], capture_output=True, timeout=60)
        subprocess.run(["pkill", "-9", "-f", self.temp_dir], capture_output=True, timeout=60)
        if self.address:  # the ray:// client server names only the cluster's address
            client = f"ray.util.client.server --address={self.address} "
            subprocess.run(["pkill", "-9", "-f", client], capture_output=True, timeout=60)
        os.environ.pop("RAY_ADDRESS", None)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
