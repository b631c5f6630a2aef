"""Telemetry never changes a command's outcome: broken spool, unwritable home,
black-holed endpoint. And the first-run notice, with and without a terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from iconiq.telemetry.spool import exists as recorded
from tests.telemetry.collector import Collector
from tests.telemetry.conftest import cli, flusher_pids, pending, wait_no_flusher


@pytest.fixture(autouse=True)
def refused_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flushers started here give up at once: plain http to a non-loopback host is refused
    before any connection is made (tests that need a server set their own endpoint)."""
    monkeypatch.setenv("ICONIQ_TELEMETRY_ENDPOINT", "http://192.0.2.1")


def baseline(*args: str) -> subprocess.CompletedProcess[str]:
    return cli(*args, env={"DO_NOT_TRACK": "1"})


def test_corrupt_spool_is_replaced_and_the_command_is_unchanged(
    spool_path: Path, noticed: Path
) -> None:
    spool_path.write_bytes(b"this is not a database" * 100)
    off = baseline("config", "path")
    on = cli("config", "path")
    assert (on.returncode, on.stdout, on.stderr) == (off.returncode, off.stdout, off.stderr)
    assert pending(spool_path) == 1
    wait_no_flusher(spool_path)  # the command set it aside, its flusher salvaged it
    assert len(list(spool_path.parent.glob("telemetry.db.corrupt-*"))) == 1


def test_unwritable_home_leaves_the_command_unchanged(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {"ICONIQ_HOME": str(blocker / "home")}  # cannot be created: a file is in the way
    off = cli("config", "path", env={**env, "DO_NOT_TRACK": "1"})
    on = cli("config", "path", env=env)
    failing_off = cli("config", "get", "no.such.key", env={**env, "DO_NOT_TRACK": "1"})
    failing_on = cli("config", "get", "no.such.key", env=env)
    assert on.returncode == off.returncode == 0 and on.stdout == off.stdout
    assert failing_on.returncode == failing_off.returncode != 0
    assert failing_on.stdout == failing_off.stdout and "Traceback" not in failing_on.stderr


def test_unreadable_spool_leaves_the_command_unchanged(spool_path: Path, noticed: Path) -> None:
    """The spool's path cannot be opened as a database (a directory is in the way; file
    modes would not stop root, which runs CI)."""
    spool_path.mkdir()
    (spool_path / "keep").write_text("not ours")
    off = baseline("config", "path")
    on = cli("config", "path")
    assert (on.returncode, on.stdout, on.stderr) == (off.returncode, off.stdout, off.stderr)
    assert (spool_path / "keep").read_text() == "not ours"
    info = cli("telemetry", "status", "--json")
    assert info.returncode == 0 and '"spool_error": "' in info.stdout


def test_black_holed_endpoint_costs_the_command_nothing(
    collector: Collector, spool_path: Path, noticed: Path
) -> None:
    collector.mode = "hang"  # accepts, reads, never answers
    off = baseline("config", "path")
    started = time.monotonic()
    on = cli("config", "path")
    elapsed = time.monotonic() - started
    assert (on.returncode, on.stdout, on.stderr) == (off.returncode, off.stdout, off.stderr)
    assert collector.received.wait(30)  # the flusher is stuck, the command is not
    assert elapsed < 10 and flusher_pids(spool_path)
    assert pending(spool_path) == 1


def test_notice_once_on_stderr_without_a_terminal(iconiq_home: Path, spool_path: Path) -> None:
    first = cli("config", "path")
    assert "Welcome" not in first.stderr and not recorded(spool_path)  # config: no notice
    first = cli("icon", "--prompt", "x", "--model", "nonsense")
    assert "\U0001f680 Welcome to Iconiq!" in first.stderr
    assert "To disable: iconiq config --telemetry false" in first.stderr
    assert "Continue? (y/n)" not in first.stderr
    second = cli("icon", "--prompt", "x", "--model", "nonsense")
    assert "Welcome" not in second.stderr and second.returncode == first.returncode
    assert pending(spool_path) == 2
    wait_no_flusher(spool_path)


def test_help_shows_no_notice_and_records_nothing(iconiq_home: Path, spool_path: Path) -> None:
    for args in (["icon", "--help"], ["config", "--help"], ["--help"]):
        done = cli(*args)
        assert done.returncode == 0 and "Usage" in done.stdout
        assert "Welcome" not in done.stderr
    assert not recorded(spool_path)
    assert not (iconiq_home / "telemetry-notice-shown").exists()


def _with_terminal(args: list[str], answer: bytes) -> tuple[int, str, str]:
    """Run iconiq with stdin/stderr on a pseudo-terminal; type ``answer``."""
    main_fd, sub_fd = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "iconiq", *args],
        stdin=sub_fd,
        stderr=sub_fd,
        stdout=subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_ACTIONS")},
    )
    os.close(sub_fd)
    seen = b""
    deadline = time.monotonic() + 30
    while b"(y/n)" not in seen and time.monotonic() < deadline:
        seen += os.read(main_fd, 4096)
    os.write(main_fd, answer)
    out, _ = proc.communicate(timeout=30)
    try:
        while True:
            chunk = os.read(main_fd, 4096)
            if not chunk:
                break
            seen += chunk
    except OSError:
        pass
    os.close(main_fd)
    return proc.returncode, out.decode(), seen.decode(errors="replace")


@pytest.mark.parametrize("answer", [b"n\n", b"y\n"])
def test_prompt_on_a_terminal(
    answer: bytes, iconiq_home: Path, spool_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CI", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    code, out, terminal = _with_terminal(
        ["icon", "--prompt", "x", "--model", "local", "-o", str(iconiq_home / "i.png")], answer
    )
    assert "Continue? (y/n)" in terminal and code == 0 and out.strip()
    if answer == b"n\n":
        config = tomllib.loads((iconiq_home / "config.toml").read_text())
        assert config["telemetry"]["enabled"] is False
        assert not recorded(spool_path) and flusher_pids(spool_path) == []
    else:
        # Consent given: this very command is recorded, once (the flusher cannot deliver it).
        assert recorded(spool_path) and pending(spool_path) == 1
        assert not (iconiq_home / "config.toml").exists()
        wait_no_flusher(spool_path)


def test_full_disk_leaves_the_command_unchanged(spool_path: Path, noticed: Path) -> None:
    """No file may grow (RLIMIT_FSIZE = 0, as on a full disk): the spool cannot be written."""
    import resource

    from tests.telemetry.conftest import fill_spool

    fill_spool(spool_path, 3)

    def full_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "iconiq", "config", "path"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            preexec_fn=full_disk,
            timeout=60,
        )

    off, on = run({"DO_NOT_TRACK": "1"}), run({})
    assert (on.returncode, on.stdout, on.stderr) == (off.returncode, off.stdout, off.stderr)
    assert on.returncode == 0
    assert pending(spool_path) == 3  # nothing could be added, nothing was lost
    wait_no_flusher(spool_path)
