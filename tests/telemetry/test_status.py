"""``iconiq telemetry status`` a person can trust: user data shown literally, no escape
codes for NO_COLOR or pipes, the awaiting-notice state, a last error that a later
success clears, and every spool counter; the same facts in ``--json``."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iconiq.telemetry.spool import Spool
from iconiq.telemetry.spool import exists as recorded
from tests.telemetry.collector import Collector
from tests.telemetry.conftest import cli, fill_spool, pending, status_json, wait_no_flusher

ESC = "\x1b["


def on_a_terminal(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run ``iconiq ARGS`` with stdout on a pseudo-terminal; (exit code, what it printed)."""
    full = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    full.update({"TERM": "xterm-256color", "COLUMNS": "300"}, **(env or {}))
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "iconiq", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=full,
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([master], [], [], left)[0]:
                break
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        code = proc.wait(timeout=10)
        assert proc.stderr is not None
        stderr = proc.stderr.read().decode()
        proc.stderr.close()
    assert "Traceback" not in stderr, stderr
    return code, b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")


@pytest.mark.parametrize("name", ["[red]home", "[/x]home", "[bold]a[/bold]"])
def test_user_data_is_printed_literally(name: str, tmp_path: Path) -> None:
    home = tmp_path / name
    env = {"ICONIQ_HOME": str(home)}
    piped = cli("telemetry", "status", env=env)
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    assert str(home / "telemetry.db") in piped.stdout
    code, shown = on_a_terminal("telemetry", "status", env=env)
    assert code == 0 and str(home / "telemetry.db") in shown, shown
    assert status_json(env)["spool"] == str(home / "telemetry.db")


def test_the_endpoints_refusal_note_is_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICONIQ_TELEMETRY_ENDPOINT", "http://telemetry.example.com")
    note = "[refused: endpoint uses http:// to a non-loopback host (https is required)]"
    assert note in cli("telemetry", "status").stdout
    code, shown = on_a_terminal("telemetry", "status")
    assert code == 0 and note in shown, shown


def test_no_escape_codes_for_no_color_or_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    code, styled = on_a_terminal("telemetry", "status")
    assert code == 0 and ESC in styled  # a terminal gets bold labels...
    code, plain = on_a_terminal("telemetry", "status", env={"NO_COLOR": "1"})
    assert code == 0 and ESC not in plain and "Telemetry" in plain  # ...unless NO_COLOR
    piped = cli("telemetry", "status")
    assert piped.returncode == 0 and ESC not in piped.stdout and "Pending" in piped.stdout
    assert piped.stdout.splitlines() == plain.splitlines()  # one row a line, unwrapped


def test_show_telemetry_is_the_same_status(monkeypatch: pytest.MonkeyPatch) -> None:
    """``iconiq config --show-telemetry`` renders the one status as ``iconiq telemetry
    status`` does: same rows (the debug note among them), styled on a terminal alike."""
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    env = {"ICONIQ_TELEMETRY_DEBUG": "1"}
    piped = cli("config", "--show-telemetry", env=env)
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    assert piped.stdout == cli("telemetry", "status", env=env).stdout
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in piped.stdout.splitlines())
    assert rows["Debug"] == "each event is printed to stderr as it is recorded"
    assert "Debug" not in cli("telemetry", "status").stdout
    assert "debug" not in status_json(env)  # not a key of the stable object
    code, shown = on_a_terminal("config", "--show-telemetry", env=env)
    assert code == 0 and ESC in shown
    assert (code, shown) == on_a_terminal("telemetry", "status", env=env)


def test_on_once_the_first_run_notice_is_answered(tmp_path: Path, spool_path: Path) -> None:
    info = status_json()
    assert (info["state"], info["enabled"], info["decided_by"]) == (
        "awaiting_notice",
        True,
        "default",
    )
    text = cli("telemetry", "status").stdout
    assert "on once the first-run notice is answered" in text
    assert cli("config", "path").returncode == 0  # config never shows the notice
    assert not recorded(spool_path)  # and indeed nothing was recorded
    out = tmp_path / "icon.png"
    shown = cli("icon", "--prompt", "a fox", "--model", "local", "--output", str(out))
    assert shown.returncode == 0 and "Welcome to Iconiq" in shown.stderr
    info = status_json()
    assert (info["state"], info["enabled"]) == ("on", True)
    assert "on (decided by: default)" in cli("telemetry", "status").stdout
    assert status_json({"DO_NOT_TRACK": "1"})["state"] == "off"
    assert cli("config", "--telemetry", "false").returncode == 0
    assert status_json()["state"] == "off"
    wait_no_flusher(spool_path)


def test_a_success_clears_the_last_error(collector: Collector, spool_path: Path) -> None:
    fill_spool(spool_path, 5)
    collector.mode = "400"
    failed = cli("telemetry", "flush")
    assert failed.returncode == 6 and "HTTP 400" in failed.stderr
    info = status_json()
    assert info["last_error"] == "HTTP 400" and info["last_error_at"] is not None
    assert "Last error" in (text := cli("telemetry", "status").stdout) and "HTTP 400 at" in text
    collector.mode = "ok"
    assert cli("telemetry", "flush", "--background").returncode == 0  # a detached flusher
    wait_no_flusher(spool_path)
    assert pending(spool_path) == 0 and len(collector.stored) == 5
    info = status_json()
    assert info["last_error"] is None and info["last_error_at"] is None
    assert info["last_upload"] is not None
    lines = cli("telemetry", "status").stdout.splitlines()
    assert [line.split(None, 2)[2] for line in lines if line.startswith("Last error")] == ["none"]


def test_every_spool_counter_is_shown(spool_path: Path) -> None:
    fill_spool(spool_path, 2)
    with Spool(spool_path) as s:
        s.bump("record_errors", 2)
        s.bump("some_future_counter", 7)  # a counter added later shows up unchanged
        s.set(last_upload_ms=1, backoff_s=30)  # times and durations are not counters
    counters = status_json()["counters"]
    assert counters == {"record_errors": 2, "some_future_counter": 7}
    text = cli("telemetry", "status").stdout
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in text.splitlines())
    assert rows["Lost before upload"].endswith("2 (recording errors)")
    assert rows["Some future counter"] == "7"
    assert status_json()["record_errors"] == 2
    assert "Backoff" not in text


def test_rejections_are_counted_with_the_servers_reason(
    collector: Collector, spool_path: Path
) -> None:
    fill_spool(spool_path, 3)
    fill_spool(spool_path, 2, command="bad")
    collector.reject_command = "bad"
    done = cli("telemetry", "flush")
    assert done.returncode == 0 and "3 uploaded" in done.stdout and "2 rejected" in done.stdout
    info = status_json()
    assert (info["pending"], info["uploaded"], info["rejected"]) == (0, 3, 2)
    assert info["last_rejection"] == "invalid" and info["last_error"] is None
    text = cli("telemetry", "status").stdout
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in text.splitlines())
    assert rows["Rejected by server"] == "2 (last reason: invalid)"
