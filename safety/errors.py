"""One rooted exception hierarchy for the safety package."""

from __future__ import annotations


class SafetyError(Exception):
    """Base class for every error raised by `safety`."""


class PolicyError(SafetyError, ValueError):
    """An invalid safety policy or configuration (raised at start-up, not per request)."""


class ClassifierError(SafetyError):
    """A classifier could not produce a verdict; the gate fails closed on it."""


class RemoteClassifierError(ClassifierError):
    """A moderation API answered with an error or an unexpected body."""

    def __init__(self, service: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{service}: {message}" + (f" (HTTP {status})" if status else ""))
        self.service = service
        self.status = status
