"""The seams DESIGN.md promises, checked on the source: they fail when someone breaks them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOWER = ("tools", "imaging", "safety")


def _modules(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", _modules(*LOWER), ids=lambda p: str(p.relative_to(ROOT)))
def test_lower_layers_never_import_bot(path: Path) -> None:
    # Anywhere in the file, not only at the top: a lazy import is still a dependency.
    upward = sorted(n for n in _imports(path) if n == "bot" or n.startswith("bot."))
    assert not upward, f"{path.relative_to(ROOT)} imports {upward}"


def test_the_environment_is_read_only_in_settings() -> None:
    readers = []
    for path in _modules("bot", *LOWER):
        if path == ROOT / "bot" / "settings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and \
                    isinstance(node.value, ast.Name) and node.value.id == "os":
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not readers, "read the environment in bot/app/settings.py instead: " + ", ".join(readers)


def test_modules_stay_small() -> None:
    # The demo model's training code is a script-like pipeline, kept whole on purpose.
    big = {str(p.relative_to(ROOT)): n for p in _modules("bot", *LOWER)
           if "demo" not in p.parts
           and (n := len(p.read_text(encoding="utf-8").splitlines())) > 300}
    assert not big, f"split these modules (over 300 lines): {big}"
