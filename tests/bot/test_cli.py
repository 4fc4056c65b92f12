"""The real `easel` console script, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image


def _easel(*args: str, env: dict[str, str], timeout: int = 240) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("easel")
    return subprocess.run([str(exe), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EASEL_", "Microsoft"))}
    env.update(HF_HUB_OFFLINE="1", EASEL_DATA_DIR=str(tmp_path / "data"), **extra)
    return env


def test_imagine_with_no_model_set_draws_a_red_heart_on_blue(tmp_path: Path):
    """The issue's own check: with EASEL_IMAGE_MODEL unset, the shipped demo model draws
    what the words say (colours and shape measured from the pixels)."""
    from imaging.demo.measure import measure, nearest_shape, shape_templates

    out = tmp_path / "x.png"
    res = _easel("imagine", "a red heart on a blue background", "-o", str(out), "--seed", "5",
                 env=_env(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "demo model" in res.stderr.lower()  # start-up says what it is and how to switch
    assert "EASEL_IMAGE_MODEL" in res.stderr
    with Image.open(out) as img:
        img.verify()
    with Image.open(out) as img:
        assert img.size == (256, 256)  # drawn at 64 px, delivered upscaled
        m = measure(img.convert("RGB"))
    assert (m.colour, m.background) == ("red", "blue")
    assert nearest_shape(m.mask, shape_templates())[0] == "heart"
    assert "seed 5" in res.stdout and "heart" in res.stdout


def test_missing_model_fails_at_start_with_a_clear_message(tmp_path: Path):
    res = _easel("imagine", "a cat", "-o", str(tmp_path / "x.png"),
                 env=_env(tmp_path, EASEL_IMAGE_MODEL=str(tmp_path / "missing-model")))
    assert res.returncode == 1
    assert "EASEL_IMAGE_MODEL" in res.stderr and "Traceback" not in res.stderr


def test_bad_settings_fail_with_a_clear_message(tmp_path: Path):
    res = _easel("serve", "--port", "0", env=_env(tmp_path, EASEL_PUBLIC_URL="not a url"))
    assert res.returncode == 2
    assert "EASEL_PUBLIC_URL" in res.stderr and "Traceback" not in res.stderr


def test_chat_in_a_terminal(tmp_path: Path, demo_model_dir: Path):
    exe = Path(sys.executable).with_name("easel")
    res = subprocess.run(
        [str(exe), "chat"], input="/help\n/imagine --seed 3 a small boat\n",
        env=_env(tmp_path, EASEL_IMAGE_MODEL=str(demo_model_dir)),
        capture_output=True, text=True, timeout=240, check=False)
    assert res.returncode == 0, res.stderr
    assert "/imagine" in res.stdout
    saved = [line for line in res.stdout.splitlines() if "saved" in line]
    assert saved, res.stdout
    path = saved[0].split("saved ", 1)[1].split(" (seed")[0]
    with Image.open(path) as img:
        img.verify()
