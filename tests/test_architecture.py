"""docs/architecture.md names protocols and where they live: each must exist there."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
TABLE = PAGE.split("## Protocols", 1)[1].split("\n## ", 1)[0]
PACKAGES = ("bot", "tools", "imaging", "safety")
ROWS = [(names, module) for names, module in re.findall(
    r"^\| (`[^|]+`) \| ([\w/]+\.py) \|", TABLE, flags=re.M)]
LISTED = [(name, module) for names, module in ROWS for name in re.findall(r"`(\w+)`", names)]


def test_the_page_lists_protocols() -> None:
    assert len(LISTED) >= 15, "the protocol table could not be read"


@pytest.mark.parametrize("name,module", LISTED, ids=[n for n, _ in LISTED])
def test_listed_protocol_exists(name: str, module: str) -> None:
    mod = importlib.import_module(module.removesuffix(".py").replace("/", "."))
    assert hasattr(mod, name), f"docs/architecture.md lists {name} in {module}, which has none"


def test_every_path_on_the_page_exists() -> None:
    paths = set(re.findall(r"\b((?:bot|tools|imaging|safety|tests|bench)/[\w/]+\.py)\b", PAGE))
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_every_protocol_in_the_code_is_on_the_page() -> None:
    # Private helpers (a leading underscore) are the module's own business.
    found = {(m.group(1), str(path.relative_to(ROOT)))
             for pkg in PACKAGES for path in (ROOT / pkg).rglob("*.py")
             for m in re.finditer(r"^class ([A-Za-z]\w*)\((?:\w+, )?Protocol\)",
                                  path.read_text(encoding="utf-8"), flags=re.M)}
    missing = sorted(f"{name} ({module})" for name, module in found
                     if (name, module) not in set(LISTED))
    assert not missing, f"protocols missing from docs/architecture.md: {missing}"
