"""What provenance is told: the operator's options and, per image, what made it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path


class ProvenanceError(Exception):
    """Root of this package's errors."""


class KeyConfigError(ProvenanceError):
    """The signing certificate / key given cannot be used (says which and why)."""


class SigningError(ProvenanceError):
    """c2pa refused to sign (an unsupported format, a broken image)."""


@dataclass(frozen=True, slots=True)
class ProvenanceConfig:
    """Built by bot/ from the settings (EASEL_DATA_DIR, EASEL_C2PA_*, EASEL_VISIBLE_MARK).

    `cert_path` / `key_path`: a PEM chain (signing certificate first, then its issuers) and
    its private key (EC P-256 for ES256, or Ed25519). Both unset: a local CA is created
    under `data_dir` on first use (public verifiers will call it untrusted).
    `deployment_id`: the 32 bits the watermark carries besides the generation key; unset,
    it is derived from the watermark key, so it is stable per data dir.
    `watermark_key_path`: a file of at least 16 random bytes (hex, or raw); unset, one is
    created under `data_dir`. Replicas that share no data dir must share this file.
    `trust_anchors_path`: extra PEM roots that `verify` reports as trusted.
    """

    data_dir: Path
    cert_path: Path | None = None
    key_path: Path | None = None
    include_prompt: bool = False
    visible_mark: bool = False
    deployment_id: int | None = None
    watermark_key_path: Path | None = None
    trust_anchors_path: Path | None = None

    def __post_init__(self) -> None:
        if (self.cert_path is None) != (self.key_path is None):
            raise KeyConfigError("set both the C2PA certificate and its key, or neither")
        if self.deployment_id is not None and not 0 <= self.deployment_id < 2**32:
            raise KeyConfigError("the deployment id must be a 32-bit unsigned integer")

    @property
    def provenance_dir(self) -> Path:
        return Path(self.data_dir) / "provenance"


@dataclass(frozen=True, slots=True)
class GenerationInfo:
    """What the manifest says about one image. `prompt` and `user_id` are written only when
    the operator turned `include_prompt` on; otherwise they never leave easel."""

    engine: str  # the engine kind or its configured name, e.g. "diffusers"
    model: str  # the model, e.g. "stabilityai/sd-turbo"
    generation_key: int  # 32 bits, from Provenance.generation_key(ref)
    prompt: str | None = None
    user_id: str | None = None
    when: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The C2PA action of an image with a parent: None is `c2pa.edited`; a faithful
    # enlargement says `c2pa.resized`. (Without a parent it is always `c2pa.created`.)
    action: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.generation_key < 2**32:
            raise ValueError("the generation key must be a 32-bit unsigned integer")

    @property
    def software_agent(self) -> str:
        return f"{self.engine} {self.model}".strip()
