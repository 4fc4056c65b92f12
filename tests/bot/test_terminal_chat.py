"""`easel chat` in a real terminal (tmux): only the conversation shows on the screen."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
NOISE = ("INFO", "WARNING", "DEBUG", "torchvision", "Token indices", "truncated", "Traceback")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


class Terminal:
    def __init__(self, session: str) -> None:
        self.session = session

    def screen(self) -> str:
        # -J joins lines the terminal wrapped, so a long path is one line again.
        return subprocess.run([TMUX, "capture-pane", "-p", "-J", "-t", self.session],
                              capture_output=True, text=True, check=True).stdout

    def type(self, text: str) -> None:
        subprocess.run([TMUX, "send-keys", "-t", self.session, text, "Enter"], check=True)

    def wait_for(self, ready: Callable[[str], bool], timeout: float = 120) -> str:
        """Poll the screen until `ready` holds (the deadline only keeps a failure from
        hanging): the assertions then look at a settled screen."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if ready(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"the terminal never got there:\n{screen}")
            time.sleep(0.2)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Callable[..., Terminal]]:
    if TMUX is None:
        pytest.skip("tmux is not installed (apt-get install tmux): terminal test skipped")
    sessions: list[str] = []

    def start(*args: str, **extra_env: str) -> Terminal:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("EASEL_", "Microsoft"))}
        env.update(HF_HUB_OFFLINE="1", EASEL_DATA_DIR=str(tmp_path / "data"), TERM="xterm")
        env.update(extra_env)
        session = f"easel-{secrets.token_hex(4)}"
        exe = Path(sys.executable).with_name("easel")
        subprocess.run([TMUX, "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
                        str(exe), "chat", *args], env=env, check=True)
        sessions.append(session)
        return Terminal(session)

    yield start
    for session in sessions:
        subprocess.run([TMUX, "kill-session", "-t", session], capture_output=True, check=False)


def _prompts(screen: str) -> int:
    return sum(line.startswith("you>") for line in screen.splitlines())


def test_the_terminal_shows_only_the_conversation(terminal, tmp_path: Path):
    term = terminal()
    term.wait_for(lambda s: _prompts(s) == 1)
    term.type("/imagine a red apple on a blue background")
    screen = term.wait_for(lambda s: "prompt used" in s and _prompts(s) == 2)
    lines = [line for line in screen.splitlines() if line.strip()]
    assert lines[0].startswith("easel chat")
    assert lines[1].startswith("easel> note: this is easel's small built-in demo model")
    assert any(line.startswith("easel> saved ") and line.endswith(")") for line in lines)
    assert not [n for n in NOISE if n in screen] and not TIMESTAMP.search(screen)
    # Progress redrew one line, and the reply took its place.
    assert "… step" not in screen and "in line" not in screen
    # Every line belongs to the chat: the banner, the note, you, easel, the prompt used.
    assert all(line.startswith(("easel chat", "easel> ", "you>", "       prompt used: "))
               for line in lines), lines
    log = (tmp_path / "data" / "easel-chat.log").read_text()
    assert "INFO" in log and "loaded image model" in log  # the records went to the file

    # The canvas commands work as text: each saves a new picture, /undo goes back.
    for turn, command in enumerate(("/zoom 2", "/pan left", "/upscale 2x subtle", "/undo"), 3):
        term.type(command)
        screen = term.wait_for(lambda s, n=turn: _prompts(s) == n)
    lines = [line for line in screen.splitlines() if line.strip()]
    assert sum(line.startswith("easel> saved ") for line in lines) == 4
    assert lines[-2].startswith("easel> Back to the previous picture")
    assert not [n for n in NOISE if n in screen]


def test_a_clip_model_s_truncation_warnings_stay_off_the_screen(terminal, tmp_path: Path,
                                                                random_model_dir: Path):
    """A real CLIP pipeline, a prompt past its 77 tokens: the tokenizer's "Token indices"
    and diffusers' "truncated" warnings fire mid-reply, and land in the file only."""
    term = terminal(EASEL_IMAGE_MODEL=str(random_model_dir))
    term.wait_for(lambda s: _prompts(s) == 1)
    term.type("/imagine --raw " + "a red apple on a blue background, " * 3)
    screen = term.wait_for(lambda s: "prompt used" in s and _prompts(s) == 2)
    lines = [line for line in screen.splitlines() if line.strip()]
    assert any(line.startswith("easel> saved ") for line in lines)
    assert not [n for n in NOISE if n in screen] and not TIMESTAMP.search(screen)
    assert all(line.startswith(("easel chat", "easel> ", "you>", "       prompt used: "))
               for line in lines), lines
    log = (tmp_path / "data" / "easel-chat.log").read_text()
    assert "Token indices" in log and "truncated because CLIP" in log


def test_with_v_the_log_records_show_too(terminal, tmp_path: Path):
    term = terminal("-v")
    screen = term.wait_for(lambda s: _prompts(s) == 1)
    assert "INFO" in screen and TIMESTAMP.search(screen)
    assert not (tmp_path / "data" / "easel-chat.log").exists()
