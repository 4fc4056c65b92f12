"""`easel serve` in a process of its own on a loopback port (for benches that measure it
from outside: its memory, its log), with the environment a caller gives it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


class EaselProcess:
    """Only the caller's `EASEL_*` settings apply (the shell's are dropped); the data dir is
    a temporary one unless given. Its log (stdout and stderr) is kept in `log_path`."""

    def __init__(self, settings: dict[str, str]) -> None:
        self._data = tempfile.TemporaryDirectory(prefix="easel-proc-")
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("EASEL_", "Microsoft"))}
        self.env.update({"HF_HUB_OFFLINE": "1", "EASEL_DATA_DIR": self._data.name, **settings})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(tempfile.mkstemp(prefix="easel-serve-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot.app.cli", "serve", "--port", str(self.port)],
                env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    async def ready(self, timeout: float = 240.0) -> float:
        """Poll /readyz until it answers 200; the seconds that took."""
        assert self.process is not None, "not started"
        t0 = time.monotonic()
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < t0 + timeout:
                if self.process.poll() is not None:
                    raise RuntimeError(f"easel exited with {self.process.returncode}; "
                                       f"see {self.log_path}")
                try:
                    async with s.get(self.url + "/readyz") as r:
                        if r.status == 200:
                            return time.monotonic() - t0
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.5)
        raise RuntimeError(f"easel not ready after {timeout:.0f} s; see {self.log_path}")

    def rss_mb(self) -> float:
        """The process's resident memory now (Linux /proc)."""
        assert self.process is not None, "not started"
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except FileNotFoundError:  # it died
            return float("nan")
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (easel's own shutdown), then SIGKILL past `timeout`; the data dir goes."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._data.cleanup()
