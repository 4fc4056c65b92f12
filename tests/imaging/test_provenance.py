"""Content Credentials (C2PA, read back with c2pa-python itself), keys, verify and the CLI."""

from __future__ import annotations

import argparse
import io
import json
import logging
import zlib
from pathlib import Path

import c2pa
import numpy as np
import pytest
from PIL import Image

from imaging.provenance import (
    GenerationInfo,
    KeyConfigError,
    ManifestState,
    ProvenanceConfig,
)
from imaging.provenance.cli import add_parser
from imaging.provenance.keys import _new_local_ca
from imaging.provenance.manifest import (
    GENERATION_ASSERTION,
    TRAINED_ALGORITHMIC_MEDIA,
    easel_version,
    strip_manifest,
)
from imaging.provenance.service import Provenance

PROMPT = "a lighthouse on a cliff at dusk, watercolour"


def _picture(seed: int = 0, size: int = 256) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = np.stack([200 * x, 150 * y, 120 + 60 * np.sin(6 * x)], -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8))


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _store(data: bytes) -> dict:
    """The manifest store as c2pa-python reads it, with its default settings."""
    with c2pa.Reader(io.BytesIO(data)) as reader:
        return json.loads(reader.json())


def _active(store: dict) -> dict:
    return store["manifests"][store["active_manifest"]]


def _actions(manifest: dict) -> list[dict]:
    return next(a["data"]["actions"] for a in manifest["assertions"]
                if a["label"].startswith("c2pa.actions"))


@pytest.fixture
def prov(tmp_path: Path) -> Provenance:
    p = Provenance(ProvenanceConfig(data_dir=tmp_path / "data"))
    p.prepare()
    return p


def _info(prov: Provenance, ref: str, **kw) -> GenerationInfo:
    return GenerationInfo("diffusers", "stabilityai/sd-turbo", prov.generation_key(ref), **kw)


def test_a_new_image_gets_a_created_manifest_without_the_prompt(prov):
    src = _picture()
    data = prov.mark_and_sign(src, _info(prov, "job-1:0", prompt=PROMPT, user_id="u-42"))
    manifest = _active(_store(data))
    gen = manifest["claim_generator_info"][0]
    assert (gen["name"], gen["version"]) == ("easel", easel_version())
    (action,) = _actions(manifest)
    assert action["action"] == "c2pa.created"
    assert action["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert action["softwareAgent"]["name"] == "diffusers stabilityai/sd-turbo"
    assert not manifest.get("ingredients") and "thumbnail" not in manifest
    labels = {a["label"] for a in manifest["assertions"]}
    assert GENERATION_ASSERTION not in labels
    assert PROMPT.encode() not in data and b"u-42" not in data
    assert len(data) - len(strip_manifest(data)) <= 10_000  # manifest overhead
    assert Image.open(io.BytesIO(data)).size == src.size


def test_the_prompt_is_written_only_when_the_operator_opts_in(tmp_path):
    prov = Provenance(ProvenanceConfig(data_dir=tmp_path, include_prompt=True))
    data = prov.mark_and_sign(_picture(), _info(prov, "r", prompt=PROMPT, user_id="u-42"))
    extra = next(a for a in _active(_store(data))["assertions"]
                 if a["label"] == GENERATION_ASSERTION)
    assert extra["data"] == {"prompt": PROMPT, "user_id": "u-42"}


def test_edits_carry_their_parent_as_an_ingredient_and_stay_small(prov):
    parent = prov.mark_and_sign(_picture(1), _info(prov, "a"))
    child = prov.mark_and_sign(_picture(2), _info(prov, "b"), parent=parent, fmt="JPEG")
    store = _store(child)
    manifest = _active(store)
    assert [a["action"] for a in _actions(manifest)] == ["c2pa.opened", "c2pa.edited"]
    (ingredient,) = manifest["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    # The parent's own manifest travels with it: a verifier sees it was made by easel too.
    parent_label = _store(parent)["active_manifest"]
    assert ingredient["active_manifest"] == parent_label and parent_label in store["manifests"]
    report = prov.verify(child)
    assert report.manifest.action == "c2pa.edited" and report.manifest.has_parent
    # Along a chain of edits the overhead stays bounded (deep parents lose their store).
    data = child
    for i in range(3):
        data = prov.mark_and_sign(_picture(3 + i), _info(prov, f"c{i}"), parent=data)
        assert len(data) - len(strip_manifest(data)) <= 10_000
    # An upload with no credentials of its own is an ingredient too.
    upload = prov.mark_and_sign(_picture(9), _info(prov, "u"), parent=_png(_picture(8)))
    assert _active(_store(upload))["ingredients"][0]["title"] == "source image"


def test_verify_reports_a_trusted_easel_image_with_its_watermark(prov):
    info = _info(prov, "img-7")
    report = prov.verify(prov.mark_and_sign(_picture(), info))
    assert report.manifest.state is ManifestState.TRUSTED and report.manifest.easel
    assert report.watermark.present and report.watermark.this_deployment
    assert report.watermark.generation_key == info.generation_key
    assert prov.find_generation(report.watermark.generation_key, ["x", "img-7"]) == "img-7"
    assert report.made_here and report.format == "image/png"
    # A verifier without this deployment's root sees a valid but untrusted signature.
    with c2pa.Reader(io.BytesIO(prov.mark_and_sign(_picture(), info))) as reader:
        assert reader.get_validation_state() == "Valid"


def test_tampering_is_detected(prov):
    data = prov.mark_and_sign(_picture(), _info(prov, "t"))
    # 1. bytes changed inside the image data
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0x40
    report = prov.verify(bytes(flipped))
    assert report.manifest.state is ManifestState.TAMPERED
    assert any("dataHash.mismatch" in c for c in report.manifest.failures)
    # 2. pixels changed, the original manifest put back in
    pixels = np.asarray(Image.open(io.BytesIO(data))).copy()
    pixels[100:140, 100:140] = 0
    assert prov.verify(_with_store_of(data, _png(Image.fromarray(pixels)))).manifest.state \
        is ManifestState.TAMPERED
    # 3. a plain re-encode (what a chat app does) drops the manifest; the watermark stays
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).save(buf, format="JPEG", quality=80)
    report = prov.verify(buf.getvalue())
    assert report.manifest.state is ManifestState.ABSENT and report.watermark.present


def _with_store_of(signed: bytes, png: bytes) -> bytes:
    """`png` with the caBX (C2PA) chunk of `signed` inserted after its IHDR."""
    pos, chunk = 8, b""
    while pos < len(signed):
        n = int.from_bytes(signed[pos:pos + 4], "big")
        if signed[pos + 4:pos + 8] == b"caBX":
            chunk = signed[pos:pos + 12 + n]
        pos += 12 + n
    assert chunk
    ihdr_end = 8 + 12 + int.from_bytes(png[8:12], "big")
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def test_channel_reencodes_are_signed_again(prov):
    info = _info(prov, "teams")
    stored = prov.mark_and_sign(_picture(), info)
    buf = io.BytesIO()
    Image.open(io.BytesIO(stored)).convert("RGB").save(buf, format="JPEG", quality=70)
    report = prov.verify(prov.sign(buf.getvalue(), info))
    assert report.format == "image/jpeg" and report.manifest.state is ManifestState.TRUSTED
    assert report.watermark.generation_key == info.generation_key


def test_unmarked_images_are_reported_as_such(prov):
    report = prov.verify(_png(_picture(5)))
    assert report.manifest.state is ManifestState.ABSENT
    assert report.watermark.checked and not report.watermark.present and not report.made_here
    assert "none" in " ".join(report.lines())
    assert prov.verify(b"not an image").notes


def test_generated_certs_and_keys_are_reused_on_the_next_start(tmp_path, caplog):
    config = ProvenanceConfig(data_dir=tmp_path)
    with caplog.at_level(logging.WARNING, logger="imaging.provenance"):
        first = Provenance(config)
        first.prepare()
    assert "untrusted" in caplog.text
    ca = config.provenance_dir / "local-ca"
    files = {p.name: p.read_bytes() for p in ca.iterdir()}
    assert (ca / "signer.key").stat().st_mode & 0o077 == 0
    data = first.mark_and_sign(_picture(), _info(first, "r1"))

    second = Provenance(config)
    second.prepare()
    assert {p.name: p.read_bytes() for p in ca.iterdir()} == files
    assert second.deployment_id == first.deployment_id
    assert second.generation_key("r1") == first.generation_key("r1") != second.generation_key("r2")
    report = second.verify(data)
    assert report.manifest.state is ManifestState.TRUSTED and report.watermark.this_deployment


def test_an_operator_certificate_is_used_and_checked(tmp_path):
    ca = tmp_path / "issued"
    _new_local_ca(ca)  # stands in for a CA: a root and an EKU signing cert it issued
    config = ProvenanceConfig(data_dir=tmp_path / "data", cert_path=ca / "signer.pem",
                              key_path=ca / "signer.key", deployment_id=77)
    prov = Provenance(config)
    report = prov.verify(prov.mark_and_sign(_picture(), _info(prov, "x")))
    assert report.manifest.state is ManifestState.TRUSTED  # the chain's root is trusted
    assert report.watermark.deployment_id == 77
    assert not (config.provenance_dir / "local-ca").exists()

    other = tmp_path / "other"
    _new_local_ca(other)
    with pytest.raises(KeyConfigError, match="does not belong"):
        Provenance(ProvenanceConfig(data_dir=tmp_path, cert_path=ca / "signer.pem",
                                    key_path=other / "signer.key")).prepare()
    with pytest.raises(KeyConfigError):
        ProvenanceConfig(data_dir=tmp_path, cert_path=ca / "signer.pem")


async def test_async_wrappers_run_off_the_event_loop(prov):
    info = _info(prov, "async")
    data = await prov.amark_and_sign(_picture(), info)
    again = await prov.asign(strip_manifest(data), info)
    assert (await prov.averify(again)).watermark.generation_key == info.generation_key


def test_the_visible_badge_is_optional_and_keeps_the_watermark(tmp_path):
    plain = Provenance(ProvenanceConfig(data_dir=tmp_path))
    badged = Provenance(ProvenanceConfig(data_dir=tmp_path, visible_mark=True))
    src = Image.new("RGB", (256, 256), (40, 120, 200))
    info = _info(plain, "b")
    a = np.asarray(plain.mark(src, info), float)
    b = np.asarray(badged.mark(src, info), float)
    corner = np.abs(a - b)[-30:, -40:].mean()
    assert corner > 8 and np.abs(a - b).max() > 80 and np.abs(a - b)[:200, :200].mean() < 1
    assert badged.verify(_png(Image.fromarray(b.astype(np.uint8)))).watermark.present


def _run_cli(argv: list[str], defaults=None) -> int:
    parser = argparse.ArgumentParser(prog="easel")
    add_parser(parser.add_subparsers(dest="command", required=True), defaults)
    args = parser.parse_args(argv)
    return args.func(args)


def test_the_cli_prints_a_report(prov, tmp_path, capsys):
    signed = tmp_path / "signed.png"
    signed.write_bytes(prov.mark_and_sign(_picture(), _info(prov, "cli")))
    data_dir = str(prov.config.data_dir)
    assert _run_cli(["provenance", "verify", str(signed), "--json", "--data-dir", data_dir]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["manifest"]["state"] == "trusted" and out["watermark"]["present"]
    assert out["made_here"] and out["file"] == str(signed)

    plain = tmp_path / "plain.png"
    plain.write_bytes(_png(_picture(3)))
    assert _run_cli(["provenance", "verify", str(plain)],
                    lambda: ProvenanceConfig(data_dir=Path(data_dir))) == 1
    text = capsys.readouterr().out
    assert "Content Credentials: none" in text and "Watermark: none found" in text
    assert _run_cli(["provenance", "verify", str(tmp_path / "missing.png")]) == 2


def test_easel_cli_has_the_provenance_command(prov, tmp_path, monkeypatch, capsys):
    from bot.app.cli import build_parser

    monkeypatch.setenv("EASEL_DATA_DIR", str(prov.config.data_dir))
    path = tmp_path / "x.png"
    path.write_bytes(prov.mark_and_sign(_picture(), _info(prov, "bot-cli")))
    args = build_parser().parse_args(["provenance", "verify", str(path)])
    assert args.func(args) == 0
    assert "Watermark: present (this deployment" in capsys.readouterr().out


def test_strip_manifest_keeps_the_picture(prov):
    data = prov.mark_and_sign(_picture(), _info(prov, "s"), fmt="JPEG")
    bare = strip_manifest(data)
    assert len(bare) < len(data) and prov.verify(bare).manifest.state is ManifestState.ABSENT
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(bare))),
                          np.asarray(Image.open(io.BytesIO(data))))
    assert zlib.crc32(strip_manifest(bare)) == zlib.crc32(bare)
