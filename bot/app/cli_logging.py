"""Where the `easel` command's log records go.

Servers log to stderr. The terminal chat is a conversation, so there only the
conversation shows: records (ours, and the libraries' own: transformers and diffusers
install stderr handlers of their own, and warnings come through `warnings`) go to a file
under the data dir, or to the terminal with `-v`.
"""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Third-party chatter that drowns out our own start-up messages.
NOISY = ("msrest", "urllib3", "httpx", "diffusers", "transformers", "asyncio")


def setup_logging(verbose: bool = False, log_file: Path | None = None) -> None:
    """`log_file`: send everything there instead of the terminal (unless `verbose`)."""
    if log_file is not None and not verbose:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.FileHandler(log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler],
                        force=True)
    logging.captureWarnings(True)  # warnings.warn(...) becomes a record, not a stderr line
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for library in ("transformers", "diffusers"):
        _route(library)


def _route(library: str) -> None:
    """Replace a library's own stderr handler by ours (its records propagate)."""
    try:
        module = importlib.import_module(f"{library}.utils.logging")
    except ImportError:
        return
    module.disable_default_handler()
    module.enable_propagation()
