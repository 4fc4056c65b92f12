"""The engines file: named engines as `[[engine]]` tables, validated at start-up.

    [[engine]]
    name = "dalle"
    kind = "openai"
    model = "dall-e-3"
    api_key_env = "OPENAI_API_KEY"

The first engine is the default. Every error names the entry and the field, and a secret
is only ever named by its environment variable: values never reach a log or a reply.
The caller passes the environment in (bot/app/settings.py is the one reader of it).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imaging.engine import EngineLoadError

KINDS = ("diffusers", "openai", "azure-openai", "comfyui")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")

# Options every kind takes, then each kind's own; the type is what TOML must give.
_COMMON: dict[str, type | tuple[type, ...]] = {
    "name": str, "kind": str, "description": str, "speed": str, "max_concurrency": int,
    "timeout_s": (int, float),
}
_KIND_OPTIONS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "diffusers": {"model": str, "steps": int, "guidance": (int, float), "size": str,
                  "device": str, "dtype": str},
    "openai": {"base_url": str, "model": str, "api_key_env": str, "sizes": list,
               "max_n": int, "edits": bool, "quality": str, "retries": int},
    "azure-openai": {"endpoint": str, "deployment": str, "api_version": str, "model": str,
                     "api_key_env": str, "auth": str, "sizes": list, "max_n": int,
                     "edits": bool, "quality": str, "retries": int},
    "comfyui": {"base_url": str, "workflow": str, "edit_workflow": str, "mask_workflow": str,
                "upscale_workflow": str, "steps": int, "size": str, "sizes": list, "max_n": int},
}
_REQUIRED = {
    "diffusers": (), "openai": ("model", "api_key_env"),
    "azure-openai": ("endpoint", "deployment", "api_version"),
    "comfyui": ("base_url", "workflow"),
}


class EnginesFileError(EngineLoadError):
    """The engines file is missing, unreadable or has a bad entry (the message says which)."""


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """One `[[engine]]` table, checked: its kind's options and any resolved secret."""

    name: str
    kind: str
    options: dict[str, Any]
    description: str = ""
    speed: str = ""
    max_concurrency: int = 1
    timeout_s: float = 120.0
    secret: str | None = field(default=None, repr=False)  # from `api_key_env`; never logged
    base_dir: Path = Path(".")  # relative paths in the file (workflows) start here

    def option(self, name: str, default: Any = None) -> Any:
        return self.options.get(name, default)

    def path(self, name: str) -> Path | None:
        value = self.options.get(name)
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p


@dataclass(frozen=True, slots=True)
class EnginesFile:
    engines: list[EngineSpec]
    arena: dict[str, Any] = field(default_factory=dict)  # the `[arena]` table, as written

    @property
    def default(self) -> EngineSpec:
        return self.engines[0]


def load_engines_file(path: Path, env: Mapping[str, str]) -> EnginesFile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EnginesFileError(f"EASEL_ENGINES: no file at {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EnginesFileError(f"EASEL_ENGINES: cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise EnginesFileError(f"{path.name}: not valid TOML: {exc}") from None
    return parse_engines(data, env, source=path.name, base_dir=path.parent)


def parse_engines(data: dict[str, Any], env: Mapping[str, str], *, source: str = "engines",
                  base_dir: Path = Path(".")) -> EnginesFile:
    unknown = set(data) - {"engine", "arena"}
    if unknown:
        raise EnginesFileError(f"{source}: unknown table {sorted(unknown)[0]!r}; the file has "
                               "[[engine]] tables and an optional [arena] table")
    tables = data.get("engine")
    if not isinstance(tables, list) or not tables:
        raise EnginesFileError(f"{source}: no [[engine]] tables; list at least one engine")
    specs: list[EngineSpec] = []
    for i, table in enumerate(tables, start=1):
        spec = _spec(table, env, f"{source}: engine {i}", base_dir)
        if any(s.name == spec.name for s in specs):
            raise EnginesFileError(f"{source}: engine {i}: name: {spec.name!r} is used twice")
        specs.append(spec)
    arena = data.get("arena", {})
    if not isinstance(arena, dict):
        raise EnginesFileError(f"{source}: [arena] must be a table")
    return EnginesFile(specs, arena)


def _spec(table: Any, env: Mapping[str, str], where: str, base_dir: Path) -> EngineSpec:
    if not isinstance(table, dict):
        raise EnginesFileError(f"{where}: must be a table")
    name = table.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise EnginesFileError(f"{where}: name: give a short lower-case name (letters, digits, "
                               "'.', '-', '_'), e.g. name = \"turbo\"")
    where = f"{where} ({name!r})"
    kind = table.get("kind")
    if kind not in KINDS:
        raise EnginesFileError(f"{where}: kind: must be one of {', '.join(KINDS)}")
    allowed = {**_COMMON, **_KIND_OPTIONS[kind]}
    for key, value in table.items():
        if key not in allowed:
            raise EnginesFileError(f"{where}: {key}: not an option of kind {kind!r} (options: "
                                   f"{', '.join(sorted(set(allowed) - {'name', 'kind'}))})")
        want = allowed[key]
        if isinstance(value, bool) and want is not bool:
            raise EnginesFileError(f"{where}: {key}: must be {_type_name(want)}, not true/false")
        if not isinstance(value, want):
            raise EnginesFileError(f"{where}: {key}: must be {_type_name(want)}")
    for key in _REQUIRED[kind]:
        if key not in table:
            raise EnginesFileError(f"{where}: {key}: required for kind {kind!r}")
    options = {k: v for k, v in table.items() if k not in _COMMON}
    _check_values(options, where)
    concurrency = table.get("max_concurrency", 1 if kind == "diffusers" else 4)
    if not 1 <= concurrency <= 64:
        raise EnginesFileError(f"{where}: max_concurrency: must be from 1 to 64")
    timeout = float(table.get("timeout_s", 120))
    if not 1 <= timeout <= 3600:
        raise EnginesFileError(f"{where}: timeout_s: must be from 1 to 3600 seconds")
    secret = None
    if "api_key_env" in options:
        var = options["api_key_env"]
        secret = env.get(var)
        if not secret:
            raise EnginesFileError(f"{where}: api_key_env: the environment variable {var} is "
                                   "not set (easel reads the key from it)")
    if kind == "azure-openai" and options.get("auth", "key") not in ("key", "entra"):
        raise EnginesFileError(f"{where}: auth: must be \"key\" (api-key header) or \"entra\" "
                               "(an Entra ID token through azure-identity)")
    if kind == "azure-openai" and options.get("auth", "key") == "key" and secret is None:
        raise EnginesFileError(f"{where}: api_key_env: required with auth = \"key\"")
    spec = EngineSpec(name, kind, options, description=table.get("description", ""),
                      speed=table.get("speed", ""), max_concurrency=concurrency,
                      timeout_s=timeout, secret=secret, base_dir=base_dir)
    for key in ("workflow", "edit_workflow", "mask_workflow", "upscale_workflow"):
        p = spec.path(key)
        if p is not None and not p.is_file():
            raise EnginesFileError(f"{where}: {key}: no file at {p}")
    return spec


def _check_values(options: dict[str, Any], where: str) -> None:
    for key in ("size",):
        if key in options and not _size(options[key]):
            raise EnginesFileError(f"{where}: {key}: write it as WIDTHxHEIGHT, e.g. \"1024x1024\"")
    if "sizes" in options:
        if not options["sizes"] or not all(isinstance(s, str) and _size(s)
                                           for s in options["sizes"]):
            raise EnginesFileError(f"{where}: sizes: a list like [\"1024x1024\", \"1792x1024\"]")
    for key, low, high in (("steps", 1, 200), ("max_n", 1, 10), ("retries", 0, 10)):
        if key in options and not low <= options[key] <= high:
            raise EnginesFileError(f"{where}: {key}: must be from {low} to {high}")
    for key in ("base_url", "endpoint"):
        if key in options and not options[key].startswith(("http://", "https://")):
            raise EnginesFileError(f"{where}: {key}: must start with http:// or https://")


def parse_size_option(value: str) -> tuple[int, int]:
    size = _size(value)
    if size is None:
        raise ValueError(value)
    return size


def _size(value: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"\s*(\d{2,5})\s*[xX×]\s*(\d{2,5})\s*", value)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _type_name(want: type | tuple[type, ...]) -> str:
    names = {str: "a string", int: "a whole number", float: "a number", bool: "true or false",
             list: "a list"}
    if isinstance(want, tuple):
        return "a number"
    return names.get(want, want.__name__)
