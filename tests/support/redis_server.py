"""A `redis-server` of a test's own on a loopback port, which the test may stop and start
again on the same port (an outage the app has to live through)."""

from __future__ import annotations

import asyncio
import shutil
import socket


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """No persistence: a restart comes back empty, as a crashed cache without AOF would."""

    def __init__(self, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.binary = binary
        self.port = port or free_port()
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self, timeout: float = 20.0) -> None:
        """Start it and return once it accepts connections (its own log line says so)."""
        assert self.process is None, "already running"
        self.process = await asyncio.create_subprocess_exec(
            self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
            "--appendonly", "no", "--loglevel", "notice",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        assert self.process.stdout is not None
        seen: list[bytes] = []

        async def ready() -> None:
            assert self.process is not None and self.process.stdout is not None
            while line := await self.process.stdout.readline():
                seen.append(line)
                if b"Ready to accept connections" in line:
                    return
            raise RuntimeError("redis-server exited: " + b"".join(seen).decode(errors="replace"))

        await asyncio.wait_for(ready(), timeout)
        # Keep reading its log, or a full pipe would one day stall the server.
        self._drain = asyncio.ensure_future(self._read_rest())

    async def _read_rest(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while await self.process.stdout.readline():
            pass

    async def stop(self) -> None:
        """Kill it (as a crash would) and wait until it is gone and its port is free."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.returncode is None:
            process.kill()
        await process.wait()
        await self._drain
