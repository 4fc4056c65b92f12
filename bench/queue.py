"""`python bench/queue.py`: the job-lifecycle benchmark (bench/jobs_queue.py).

This file's name is the standard library's `queue`, and every script in bench/ has bench/
first on its import path, so threads and asyncio would import this file instead: imported
(not run), it hands itself over to the real module.
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

if __name__ == "__main__":
    import runpy

    runpy.run_path(str(_HERE / "jobs_queue.py"), run_name="__main__")
else:
    import importlib

    del sys.modules[__name__]
    _stdlib = importlib.import_module("queue")  # now found in the standard library
    sys.modules[__name__] = _stdlib
    globals().update({k: v for k, v in vars(_stdlib).items() if not k.startswith("__")})
