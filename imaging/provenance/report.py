"""What `verify` says about an image: typed, printable, JSON-ready."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class ManifestState(StrEnum):
    ABSENT = "absent"  # no C2PA manifest (never signed, or stripped by a re-encode)
    TRUSTED = "trusted"  # intact, signed by a certificate that chains to a trusted root
    VALID = "valid"  # intact and correctly signed, by a certificate no trusted root vouches for
    TAMPERED = "tampered"  # the pixels or the manifest changed after signing
    INVALID = "invalid"  # present but unreadable or otherwise failing validation


@dataclass(frozen=True, slots=True)
class ManifestReport:
    state: ManifestState
    easel: bool = False  # the active manifest was written by easel
    claim_generator: str | None = None  # "easel 0.1.0"
    action: str | None = None  # "c2pa.created", "c2pa.edited" or "c2pa.resized"
    digital_source_type: str | None = None
    software_agent: str | None = None  # engine and model
    when: str | None = None  # ISO 8601, as the manifest states it (not a trusted time)
    signer: str | None = None  # the certificate's common name and issuer
    has_parent: bool = False  # an ingredient it was edited from
    failures: tuple[str, ...] = ()  # c2pa validation failure codes

    @property
    def present(self) -> bool:
        return self.state is not ManifestState.ABSENT


@dataclass(frozen=True, slots=True)
class WatermarkReport:
    checked: bool  # False when this deployment has no watermark key to look with
    present: bool = False
    deployment_id: int | None = None
    generation_key: int | None = None
    this_deployment: bool = False  # the payload names this deployment
    cropped: bool = False  # found only after undoing a crop


@dataclass(frozen=True, slots=True)
class ProvenanceReport:
    manifest: ManifestReport
    watermark: WatermarkReport
    format: str | None = None  # "image/png", ...
    notes: tuple[str, ...] = field(default=())

    @property
    def made_here(self) -> bool:
        """This deployment made it: its watermark, or an intact easel manifest it trusts."""
        return (self.watermark.present and self.watermark.this_deployment) or (
            self.manifest.easel and self.manifest.state is ManifestState.TRUSTED)

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["manifest"]["state"] = self.manifest.state.value
        out["manifest"]["failures"] = list(self.manifest.failures)
        out["notes"] = list(self.notes)
        out["made_here"] = self.made_here
        return out

    def lines(self) -> list[str]:
        """A short human summary, one fact a line (no prompt, no user: there are none)."""
        m, w = self.manifest, self.watermark
        out = []
        if not m.present:
            out.append("Content Credentials: none")
        else:
            who = "easel" if m.easel else (m.claim_generator or "another tool")
            out.append(f"Content Credentials: {m.state.value} (by {who})")
            if m.action:
                out.append(f"  action: {m.action}" + (" (from a parent image)" if m.has_parent
                                                       else ""))
            if m.software_agent:
                out.append(f"  made with: {m.software_agent}")
            if m.digital_source_type:
                out.append(f"  source: {m.digital_source_type.rsplit('/', 1)[-1]}")
            if m.when:
                out.append(f"  when: {m.when}")
            if m.signer:
                out.append(f"  signed by: {m.signer}")
            if m.failures:
                out.append(f"  problems: {', '.join(m.failures)}")
        if not w.checked:
            out.append("Watermark: not checked (no watermark key here)")
        elif not w.present:
            out.append("Watermark: none found")
        else:
            where = "this deployment" if w.this_deployment else f"deployment {w.deployment_id}"
            out.append(f"Watermark: present ({where}, generation key {w.generation_key}"
                       + (", after a crop" if w.cropped else "") + ")")
        out.extend(self.notes)
        return out
