"""Helpers for the telemetry client's tests: the CLI as a real subprocess, the
collector on loopback, and a way to find detached flushers in /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.telemetry.collector import Collector

# Every module recording an event may load, beyond what ``os``, ``sys``, ``time`` and
# ``pathlib`` load (the import guards in test_cost.py and test_recording.py). Each one
# costs a host CPU and wall time on every command: add one only with its cost measured
# (benchmarks/telemetry_overhead.py, docs/telemetry.md "What it costs").
RECORDING_MODULES = frozenset(
    {
        "iconiq",
        "iconiq.errors",
        "iconiq.paths",
        "iconiq.run",
        "iconiq.telemetry",
        "iconiq.telemetry.decision",
        "iconiq.telemetry.due",
        "iconiq.telemetry.event",
        "iconiq.telemetry.hooks",
        "iconiq.telemetry.ids",
        "iconiq.telemetry.inbox",
        "iconiq.telemetry.locks",
        "iconiq.telemetry.schema",
        "fcntl",  # the inbox's and the delivery state's flock
        # What ``from __future__ import annotations`` uses, when not loaded yet:
        "__future__",
    }
)
# ... and when this command starts a flusher.
SPAWN_MODULES = frozenset({"iconiq.telemetry.spawn"})
# ... and when a config file exists (tomllib's own imports come on top).
CONFIG_MODULES = frozenset({"iconiq.settings"})


@pytest.fixture
def spool_path(iconiq_home: Path) -> Path:
    return iconiq_home / "telemetry.db"


@pytest.fixture
def noticed(iconiq_home: Path) -> Path:
    """The first-run notice was already shown (keeps stderr quiet)."""
    marker = iconiq_home / "telemetry-notice-shown"
    marker.touch()
    return marker


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collector]:
    with Collector() as c:
        monkeypatch.setenv("ICONIQ_TELEMETRY_ENDPOINT", c.url)
        yield c


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``iconiq ARGS`` as a real process with the test's environment."""
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "iconiq", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
    )


def cli_at_once(*args: str, n: int = 8, timeout: float = 60) -> list[tuple[int, str, str]]:
    """Start ``n`` ``iconiq ARGS`` processes together; (exit code, stdout, stderr) of each."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "iconiq", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    outputs = [p.communicate(timeout=timeout) for p in procs]
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]


def flusher_pids(spool: Path) -> list[int]:
    """Live processes whose command line is a flusher of this spool."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        if b"iconiq.telemetry.flusher" in argv and str(spool).encode() in argv:
            found.append(int(entry.name))
    return found


def wait_until(predicate: Callable[[], bool], timeout: float = 30, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def wait_no_flusher(spool: Path, timeout: float = 60) -> None:
    assert wait_until(lambda: not flusher_pids(spool), timeout), "flusher did not exit"


def fill_spool(spool: Path, count: int, command: str = "icon") -> list[str]:
    """Queue ``count`` well-formed events directly; their event ids."""
    from iconiq.run import Run
    from iconiq.telemetry import event
    from iconiq.telemetry.spool import Spool

    ids = []
    with Spool(spool) as s:
        install = s.install_id()
        run = Run(command=command, invoked=True, success=True)
        for _ in range(count):
            payload = event.build(run, install)
            s.append(payload["event_id"], event.dumps(payload))
            ids.append(payload["event_id"])
    return ids


def status_json(env: dict[str, str] | None = None) -> dict[str, Any]:
    """``iconiq telemetry status --json``, run as a real process."""
    import json

    result = cli("telemetry", "status", "--json", env=env)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def queued_events(spool: Path) -> list[dict[str, object]]:
    """The events queued for upload, oldest first, as they will be sent: what commands
    appended to the inbox is taken into the spool first (``Spool`` does it on open)."""
    import json

    from iconiq.telemetry.spool import Spool, exists

    if not exists(spool):
        return []
    with Spool(spool) as s:
        return [json.loads(q.body) for q in s.iter_all()]


def pending(spool: Path) -> int:
    from iconiq.telemetry.spool import Spool

    with Spool(spool) as s:
        return s.pending()[0]
