"""The root of bot/'s exceptions, so a caller can catch "an easel error" in one clause.

Lower packages keep roots of their own (`imaging.errors.ImagingError`,
`safety.errors.SafetyError`, `tools.base.ToolError`): bot/ never owns their errors.
"""

from __future__ import annotations


class EaselError(Exception):
    """Anything bot/ raises on purpose."""


class ConfigError(EaselError, ValueError):
    """A setting or credential that cannot work; start-up stops with its message."""
