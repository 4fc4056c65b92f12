"""Make sure a Redis answers at EASEL_TEST_REDIS_URL (default 127.0.0.1:6379); start
`redis-server` when none does. Run by `make test` before pytest."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from urllib.parse import urlparse


def _ping(host: str, port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host=host, port=port, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def main() -> int:
    url = urlparse(os.environ.get("EASEL_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    host, port = url.hostname or "127.0.0.1", url.port or 6379
    if _ping(host, port):
        return 0
    server = shutil.which("redis-server")
    if server is None:
        print("ensure_redis: no Redis answers and redis-server is not installed; "
              "Redis tests will be skipped (apt-get install redis-server)", file=sys.stderr)
        return 0
    subprocess.run([server, "--daemonize", "yes", "--bind", host, "--port", str(port),
                    "--save", "", "--appendonly", "no"], check=True)
    for _ in range(50):
        if _ping(host, port):
            print(f"ensure_redis: started redis-server on {host}:{port}", file=sys.stderr)
            return 0
        time.sleep(0.1)
    print("ensure_redis: redis-server did not come up", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
