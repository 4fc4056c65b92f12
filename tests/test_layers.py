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
        if path == ROOT / "bot" / "app" / "settings.py":
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


# ---- import graph: no cycles, layers point one way ---------------------------------------

PACKAGES = ("bot", "tools", "imaging", "safety")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in _modules(*PACKAGES)}


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _project_imports(path: Path) -> list[tuple[str, ast.stmt]]:
    """Every project module this file imports, anywhere in it: at the top, inside a
    function (lazy) or under `if TYPE_CHECKING:` all count as edges."""
    found: list[tuple[str, ast.stmt]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                target = full if full in MODULES else _resolve(node.module)
                if target:
                    found.append((target, node))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if target := _resolve(alias.name):
                    found.append((target, node))
    return found


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, path in MODULES.items():
        for target, _ in _project_imports(path):
            # A package's __init__ is imported with any of its modules: not a cycle.
            if target != name and not name.startswith(target + "."):
                graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_cycle() -> None:
    # The finder itself, so a broken finder cannot pass the real check.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_import_cycles() -> None:
    assert not _cycles(_graph()), "import cycles (lazy and TYPE_CHECKING imports count)"


def _package_of(module: str) -> str:
    """bot's subpackages are the units of layering (bot.turn etc. are the bottom)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "bot" and len(parts) > 1 else parts[0]


def test_no_package_import_cycles() -> None:
    packages: dict[str, set[str]] = {}
    for name, targets in _graph().items():
        src = _package_of(name)
        packages.setdefault(src, set()).update(
            t for t in map(_package_of, targets) if t != src)
    assert not _cycles(packages), "packages import each other"


# Inside bot/, from the bottom up: each may import only what is below it (and itself).
BOT_LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"bot", "bot.turn", "bot.tasks", "bot.errors"}),  # channel-neutral types
    frozenset({"bot.llm"}),
    frozenset({"bot.state", "bot.arena"}),
    frozenset({"bot.pipeline"}),  # one turn: assistant, image/arena turns, recovery, studio
    frozenset({"bot.channels", "bot.api"}),  # the API is a channel too
    frozenset({"bot.app"}),  # wiring, settings, CLI: imports everything, imported by nothing
)


def _layer(package: str) -> int:
    for i, members in enumerate(BOT_LAYERS):
        if package in members:
            return i
    raise AssertionError(f"{package} is in no layer: add it to BOT_LAYERS")


def test_bot_layers_point_down() -> None:
    upward = []
    for name, targets in _graph().items():
        if not name.startswith("bot"):
            continue
        src = _package_of(name)
        for target in targets:
            dst = _package_of(target)
            if dst.startswith("bot") and dst != src and _layer(dst) >= _layer(src):
                upward.append(f"{name} -> {target}")
    assert not upward, "imports that point up or sideways: " + ", ".join(sorted(upward))


NEVER = (
    # (importer prefix, imported prefix, why)
    ("tools", "bot", "tools serve the brain and the MCP server: they know no chat"),
    ("imaging", "bot", "imaging knows no chat"),
    ("imaging", "tools", "engines and jobs sit below the tools"),
    ("imaging", "safety", "the gate checks images; engines do not call it"),
    ("safety", "bot", "safety knows no wire format"),
    ("safety", "tools", "safety sits below the tools"),
    ("safety", "imaging", "safety checks pictures, it does not make them"),
    ("bot.pipeline.studio", "bot.pipeline.arena_turns", "the arena's turns call the studio"),
    ("bot.pipeline.studio", "bot.pipeline.recovery", "recovery calls the studio"),
    ("bot.pipeline.studio", "bot.pipeline.image_turns", "image turns call the studio"),
    ("bot.pipeline.studio", "bot.pipeline.assistant", "the assistant calls the studio"),
    ("bot", "tests", "test support stays out of the runtime packages"),
    ("imaging", "tests", "test support stays out of the runtime packages"),
    ("safety", "tests", "test support stays out of the runtime packages"),
    ("tools", "tests", "test support stays out of the runtime packages"),
)


def _all_imports(path: Path) -> set[str]:
    return _imports(path) | {t for t, _ in _project_imports(path)}


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


@pytest.mark.parametrize("importer,imported,why", NEVER, ids=[f"{a}-x-{b}" for a, b, _ in NEVER])
def test_never(importer: str, imported: str, why: str) -> None:
    bad = sorted(f"{name} imports {target}" for name, path in MODULES.items()
                 if _under(name, importer)
                 for target in _all_imports(path) if _under(target, imported))
    assert not bad, f"{why}: {bad}"


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                lines.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
    return lines


def test_lazy_project_imports_say_why() -> None:
    """A project import inside a function hides a dependency: allowed only for optional
    heavy dependencies (Ray, torch in the CLI, ...), with a `# lazy: reason` comment on
    the line or the line above."""
    silent = []
    for path in MODULES.values():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source)
        typing_only = _type_checking_lines(tree)
        for _, node in _project_imports(path):
            if node.col_offset == 0 or node.lineno in typing_only:
                continue
            near = lines[node.lineno - 1] + (lines[node.lineno - 2] if node.lineno > 1 else "")
            if "# lazy:" not in near:
                silent.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not silent, "lazy project imports without a '# lazy:' reason: " + ", ".join(
        sorted(set(silent)))


def test_bot_top_level_stays_small() -> None:
    top = sorted(p.name for p in (ROOT / "bot").glob("*.py"))
    assert len(top) <= 8, f"bot/ keeps at most 8 modules at its top: {top}"
