"""The canvas tools' error: its message is a sentence a chat user can act on."""

from __future__ import annotations

from imaging.errors import ImagingError


class CanvasError(ImagingError):
    """A region, mask, zoom, pan or upscale request that cannot be carried out; the message
    says why and what would work, in words for the user."""
