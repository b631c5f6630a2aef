"""The first-run question means what it says, on a real pseudo-terminal: y/yes on,
n/no off, anything else asks again (3 times, then "not now"), end of input is
"not now", Ctrl-C cancels the command (exit 130, nothing written, nothing
recorded). ``execution_time`` starts after the answer. An unwritable home turns
telemetry off for the run without a notice or a question.
"""

from __future__ import annotations

import fcntl
import os
import select
import subprocess
import sys
import termios
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.telemetry.conftest import cli, queued_events, wait_no_flusher

PROMPT = b"(y/n)"


@pytest.fixture(autouse=True)
def terminal_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    # Flushers give up before connecting (http to a non-loopback host is refused).
    monkeypatch.setenv("ICONIQ_TELEMETRY_ENDPOINT", "http://192.0.2.1")


@dataclass
class Session:
    code: int
    stdout: str
    terminal: str

    @property
    def asked(self) -> int:
        return self.terminal.count(PROMPT.decode())


def _own_terminal() -> None:
    """In the child: a new session whose controlling terminal is stdin (the pty), so
    Ctrl-C typed there sends SIGINT as on a real terminal."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _read(fd: int, until: float) -> bytes:
    ready, _, _ = select.select([fd], [], [], max(0.0, min(0.2, until - time.monotonic())))
    if not ready:
        return b""
    try:
        return os.read(fd, 4096)
    except OSError:  # EIO: the child closed the terminal
        return b""


def on_terminal(args: list[str], answers: list[bytes], delay: float = 0.0) -> Session:
    """Run iconiq with stdin and stderr on a pseudo-terminal; type each answer when
    the question (or its repeat) appears, ``delay`` seconds later."""
    main_fd, sub_fd = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "iconiq", *args],
        stdin=sub_fd,
        stderr=sub_fd,
        stdout=subprocess.PIPE,
        preexec_fn=_own_terminal,
    )
    os.close(sub_fd)
    seen = b""
    try:
        for number, answer in enumerate(answers, 1):
            deadline = time.monotonic() + 30
            while seen.count(PROMPT) < number and time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                seen += _read(main_fd, deadline)
            if seen.count(PROMPT) < number:
                break  # not asked (again): nothing more to type
            time.sleep(delay)
            os.write(main_fd, answer)
        out, _ = proc.communicate(timeout=60)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            chunk = _read(main_fd, deadline)
            if not chunk:
                break
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main_fd)
    return Session(proc.returncode, out.decode(), seen.decode(errors="replace"))


events = queued_events


def icon_args(home: Path, name: str = "i.png") -> list[str]:
    return ["icon", "--prompt", "x", "--model", "local", "-o", str(home.parent / name)]


@pytest.mark.parametrize(
    "answers",
    [[b"y\n"], [b"YES\n"], [b"\n", b"y\n"], [b"maybe\n", b"ok\n", b"yes\n"]],
    ids=["y", "YES", "enter-then-y", "twice-wrong-then-yes"],
)
def test_yes_turns_it_on(answers: list[bytes], iconiq_home: Path, spool_path: Path) -> None:
    done = on_terminal(icon_args(iconiq_home), answers)
    assert done.code == 0 and done.stdout.strip(), done.terminal
    assert done.asked == len(answers)
    assert [e["command"] for e in events(spool_path)] == ["icon"]
    assert (iconiq_home / "telemetry-notice-shown").exists()
    again = on_terminal(icon_args(iconiq_home, "j.png"), [])
    assert again.code == 0 and again.asked == 0  # asked once only
    assert len(events(spool_path)) == 2
    wait_no_flusher(spool_path)


@pytest.mark.parametrize("answer", [b"n\n", b"No\n"], ids=["n", "No"])
def test_no_turns_it_off_and_is_remembered(
    answer: bytes, iconiq_home: Path, spool_path: Path
) -> None:
    done = on_terminal(icon_args(iconiq_home), [answer])
    assert done.code == 0 and done.stdout.strip() and done.asked == 1
    config = tomllib.loads((iconiq_home / "config.toml").read_text())
    assert config["telemetry"]["enabled"] is False
    assert events(spool_path) == []
    again = on_terminal(icon_args(iconiq_home, "j.png"), [])
    assert again.code == 0 and again.asked == 0 and events(spool_path) == []


@pytest.mark.parametrize(
    "answers",
    [[b"maybe\n"] * 3, [b"\n"] * 3, [b"\x04"], [b"sure\n", b"\x04"]],
    ids=["maybe-x3", "enter-x3", "eof", "wrong-then-eof"],
)
def test_no_answer_is_not_now(answers: list[bytes], iconiq_home: Path, spool_path: Path) -> None:
    done = on_terminal(icon_args(iconiq_home), answers)
    assert done.code == 0 and done.stdout.strip(), done.terminal  # the command ran
    assert done.asked == len(answers) and "iconiq will ask again" in done.terminal
    assert events(spool_path) == [] and not (iconiq_home / "config.toml").exists()
    assert not (iconiq_home / "telemetry-notice-shown").exists()
    again = on_terminal(icon_args(iconiq_home, "j.png"), [b"y\n"])  # asked next time
    assert again.code == 0 and again.asked == 1
    assert len(events(spool_path)) == 1
    wait_no_flusher(spool_path)


def test_ctrl_c_at_the_question_cancels_the_command(iconiq_home: Path, spool_path: Path) -> None:
    done = on_terminal(icon_args(iconiq_home), [b"\x03"])
    assert done.code == 130, done.terminal
    assert "cancelled" in done.terminal and "Traceback" not in done.terminal
    assert done.stdout == "" and not (iconiq_home.parent / "i.png").exists()
    assert events(spool_path) == [] and not (iconiq_home / "telemetry-notice-shown").exists()
    assert not (iconiq_home / "config.toml").exists()


def test_execution_time_starts_after_the_answer(iconiq_home: Path, spool_path: Path) -> None:
    delay = 4.0
    done = on_terminal(icon_args(iconiq_home), [b"y\n"], delay=delay)
    assert done.code == 0
    [event] = events(spool_path)
    took = event["execution_time"]
    assert isinstance(took, int) and 0 <= took < delay * 1000, took
    wait_no_flusher(spool_path)


def test_unwritable_home_means_off_for_the_run_without_asking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A regular file where the home's parent should be: nothing can be created there
    (file modes would not stop root, which runs CI)."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    home = blocker / "home"
    env = {"ICONIQ_HOME": str(home)}
    off = cli("icon", "--prompt", "x", "--model", "nonsense", env={**env, "DO_NOT_TRACK": "1"})
    for _ in range(2):
        on = cli("icon", "--prompt", "x", "--model", "nonsense", env=env)
        assert (on.returncode, on.stdout, on.stderr) == (off.returncode, off.stdout, off.stderr)
        assert "Welcome" not in on.stderr
    monkeypatch.setenv("ICONIQ_HOME", str(home))
    for name in ("i.png", "j.png"):
        done = on_terminal(
            ["icon", "--prompt", "x", "--model", "local", "-o", str(tmp_path / name)], []
        )
        assert done.code == 0 and done.asked == 0 and "Welcome" not in done.terminal
        assert (tmp_path / name).exists()
