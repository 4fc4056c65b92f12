"""Signing credentials for C2PA and the watermark key: given by the operator, or made here.

c2pa-python 0.38 refuses a self-signed end-entity certificate and one without an extended
key usage, and (as tried here) also one whose only EKU is documentSigning; so the local
set is a root CA plus a signing certificate it issued with the emailProtection EKU, which
the C2PA trust model accepts. Public verifiers do not know that root and show such images
as signed by an untrusted party: fine for a private deployment, and the README says how
to use a certificate from a CA instead.

Files are created atomically (a temporary directory renamed into place), so replicas
starting at once on a shared data dir end up with one set, not a mix of two.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from imaging.provenance.config import KeyConfigError, ProvenanceConfig

log = logging.getLogger(__name__)

LOCAL_CA_DIR = "local-ca"
_ROOT_YEARS, _SIGNER_DAYS = 20, 825
_RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True, slots=True)
class SigningKeys:
    chain_pem: bytes  # signing certificate first, then its issuers
    key_pem: bytes
    alg: str  # c2pa's name: "es256", "es384", "ed25519"
    anchors_pem: bytes  # roots `verify` calls trusted
    local: bool  # made here (untrusted by public verifiers)


def _alg_for(key: object) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in ("secp256r1",
                                                                          "secp384r1"):
        return "es256" if key.curve.name == "secp256r1" else "es384"
    raise KeyConfigError("the C2PA key must be EC P-256 (ES256), P-384 or Ed25519")


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "easel (local)")])


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=ca, crl_sign=ca, encipher_only=False,
                         decipher_only=False)


def _issue_signer(root: x509.Certificate, root_key: ec.EllipticCurvePrivateKey
                  ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(_name("easel content signer")).issuer_name(root.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=_SIGNER_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                root_key.public_key()), critical=False)
            .sign(root_key, hashes.SHA256()))
    return cert, key


def _new_local_ca(target: Path) -> None:
    root_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    root = (x509.CertificateBuilder()
            .subject_name(_name("easel local root CA")).issuer_name(_name("easel local root CA"))
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=365 * _ROOT_YEARS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()),
                           critical=False)
            .sign(root_key, hashes.SHA256()))
    signer, key = _issue_signer(root, root_key)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".local-ca-", dir=target.parent))
    _write(tmp / "root.pem", _pem(root))
    _write(tmp / "root.key", _key_pem(root_key), secret=True)
    _write(tmp / "signer.pem", _pem(signer) + _pem(root))
    _write(tmp / "signer.key", _key_pem(key), secret=True)
    try:
        tmp.rename(target)
    except OSError:  # another process made one first: use that one
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()


def _write(path: Path, data: bytes, secret: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _renew_if_due(ca_dir: Path) -> None:
    """Re-issue the signing certificate from the local root when it is about to expire."""
    signer = x509.load_pem_x509_certificates((ca_dir / "signer.pem").read_bytes())[0]
    if signer.not_valid_after_utc - dt.datetime.now(dt.UTC) > _RENEW_BEFORE:
        return
    root = x509.load_pem_x509_certificate((ca_dir / "root.pem").read_bytes())
    root_key = serialization.load_pem_private_key((ca_dir / "root.key").read_bytes(), None)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    cert, key = _issue_signer(root, root_key)
    # Key first: a reader in between sees the old chain with the new key and fails loudly
    # at signing, rather than silently signing with a mismatched pair later.
    _replace(ca_dir / "signer.key", _key_pem(key), secret=True)
    _replace(ca_dir / "signer.pem", _pem(cert) + _pem(root))
    log.info("provenance: renewed the local C2PA signing certificate in %s", ca_dir)


def _replace(path: Path, data: bytes, secret: bool = False) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    _write(tmp, data, secret)
    os.replace(tmp, path)


def local_root(config: ProvenanceConfig) -> bytes | None:
    """The local root CA's PEM, when this data dir has one (verification trusts it)."""
    path = config.provenance_dir / LOCAL_CA_DIR / "root.pem"
    return path.read_bytes() if path.is_file() else None


def configured_root(config: ProvenanceConfig) -> bytes | None:
    """The top certificate of the operator's chain (trusted by this deployment's verify)."""
    if config.cert_path is None or not Path(config.cert_path).is_file():
        return None
    certs = x509.load_pem_x509_certificates(Path(config.cert_path).read_bytes())
    return _pem(certs[-1]) if certs else None


def trust_anchors(config: ProvenanceConfig) -> bytes:
    parts = [local_root(config), configured_root(config)]
    if config.trust_anchors_path is not None:
        parts.append(Path(config.trust_anchors_path).read_bytes())
    return b"".join(p for p in parts if p)


def signing_keys(config: ProvenanceConfig) -> SigningKeys:
    """The operator's certificate and key, checked; or the local ones, made on first use."""
    if config.cert_path is not None and config.key_path is not None:
        return _configured(config)
    ca_dir = config.provenance_dir / LOCAL_CA_DIR
    if not (ca_dir / "signer.pem").is_file():
        _new_local_ca(ca_dir)
        log.info("provenance: created a local C2PA root CA and signing certificate in %s",
                 ca_dir)
    _renew_if_due(ca_dir)
    log.warning("provenance: signing Content Credentials with the local certificate in %s; "
                "public verifiers will show it as untrusted. Set EASEL_C2PA_CERT and "
                "EASEL_C2PA_KEY to a certificate issued by a CA on the C2PA trust list.",
                ca_dir)
    return SigningKeys((ca_dir / "signer.pem").read_bytes(),
                       (ca_dir / "signer.key").read_bytes(), "es256",
                       trust_anchors(config), local=True)


def _configured(config: ProvenanceConfig) -> SigningKeys:
    assert config.cert_path is not None and config.key_path is not None
    try:
        chain = Path(config.cert_path).read_bytes()
        key_pem = Path(config.key_path).read_bytes()
        certs = x509.load_pem_x509_certificates(chain)
        key = serialization.load_pem_private_key(key_pem, None)
    except (OSError, ValueError, TypeError) as exc:
        raise KeyConfigError(f"cannot read the C2PA certificate or key: {exc}") from exc
    alg = _alg_for(key)
    if certs[0].public_key() != key.public_key():
        raise KeyConfigError("the C2PA key does not belong to the first certificate")
    if certs[0].not_valid_after_utc <= dt.datetime.now(dt.UTC):
        raise KeyConfigError(f"the C2PA certificate expired on {certs[0].not_valid_after_utc}")
    return SigningKeys(chain, key_pem, alg, trust_anchors(config), local=False)


def watermark_key(config: ProvenanceConfig, create: bool = True) -> bytes | None:
    """The deployment's watermark key: the configured file, else data_dir's (made on first
    use when `create`). None when there is none and `create` is off (verify-only)."""
    path = config.watermark_key_path or config.provenance_dir / "watermark.key"
    if not Path(path).is_file():
        if not create or config.watermark_key_path is not None:
            if config.watermark_key_path is not None:
                raise KeyConfigError(f"no watermark key file at {path}")
            return None
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(path).with_name(f".watermark.{secrets.token_hex(4)}")
        _write(tmp, (secrets.token_hex(32) + "\n").encode(), secret=True)
        try:
            os.link(tmp, path)  # publish whole, and never over one another process made
            log.info("provenance: created the watermark key %s (keep it: it reads the marks)",
                     path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    raw = Path(path).read_bytes().strip()
    try:
        key = bytes.fromhex(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = raw
    if len(key) < 16:
        raise KeyConfigError(f"the watermark key in {path} is shorter than 16 bytes")
    return key
