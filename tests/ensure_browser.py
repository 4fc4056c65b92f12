"""Make sure Debian's Chromium is there for the browser tests (Playwright drives it; its
own browser download cannot be reached). Run by `make test` before pytest: as root with
apt-get it installs the `chromium` package when missing; otherwise it says loudly that the
browser tests will be skipped, and why."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

PACKAGE = "chromium"


def find() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def main() -> int:
    if find():
        return 0
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print(f"ensure_browser: {PACKAGE} is not installed and this user cannot apt-get it; "
              f"THE BROWSER TESTS WILL BE SKIPPED (sudo apt-get install {PACKAGE})",
              file=sys.stderr)
        return 0
    print(f"ensure_browser: installing Debian's {PACKAGE} for the browser tests",
          file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", PACKAGE],
                       check=True, env=env)
    except subprocess.CalledProcessError as exc:
        print(f"ensure_browser: apt-get failed ({exc}); THE BROWSER TESTS WILL BE SKIPPED",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
