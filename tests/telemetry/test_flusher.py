"""The flusher against the test collector: splitting, rejections, Retry-After,
backoff persisted across runs, concurrency with recording commands."""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from freezegun import freeze_time

from iconiq.telemetry import due, flush, manage, transport
from iconiq.telemetry.spawn import spawn_flusher
from iconiq.telemetry.spool import Spool
from iconiq.telemetry.spool import exists as recorded
from tests.telemetry.collector import Collector
from tests.telemetry.conftest import (
    cli,
    cli_at_once,
    fill_spool,
    flusher_pids,
    pending,
    wait_no_flusher,
    wait_until,
)


def test_413_splits_and_rejected_events_are_dropped_and_counted(
    collector: Collector, spool_path: Path
) -> None:
    good = fill_spool(spool_path, 290)
    bad = fill_spool(spool_path, 10, command="bad")
    collector.max_events = 64
    collector.reject_command = "bad"
    result = manage.flush_now()
    assert result.delivered and result.uploaded == 290 and result.rejected == 10
    assert set(collector.stored) == set(good) and not set(collector.stored) & set(bad)
    assert collector.counts["413"] >= 1
    assert all(len(b) > 0 for b in collector.raw)
    with Spool(spool_path) as s:
        assert s.pending()[0] == 0 and s.get_int("rejected") == 10


def test_retry_after_is_honoured_then_delivered(collector: Collector, spool_path: Path) -> None:
    ids = fill_spool(spool_path, 3)
    collector.mode, collector.retry_after = "429", 7
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        collector.mode = "ok"

    with Spool(spool_path) as s, transport.client() as http:
        result = flush.deliver(s, http, collector.url, deadline=time.monotonic() + 60, sleep=sleep)
    assert result.delivered and set(collector.stored) == set(ids)
    assert len(slept) == 1 and slept[0] >= 7


def test_retry_after_beyond_the_deadline_is_persisted(
    collector: Collector, spool_path: Path
) -> None:
    fill_spool(spool_path, 3)
    collector.mode, collector.retry_after = "429", 600
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    with freeze_time(start), Spool(spool_path) as s, transport.client() as http:
        result = flush.deliver(s, http, collector.url, deadline=time.monotonic() + 30)
        assert result.error == "HTTP 429" and result.retry_after == 600
        flush.record(s, result)
        assert due.read(spool_path)["next_attempt_ms"] >= int(start.timestamp() * 1000) + 600_000
    assert collector.counts["requests"] == 1  # no retry inside a window the server refused


def test_backoff_persisted_beside_the_spool(spool_path: Path) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    t0 = int(start.timestamp() * 1000)
    rng = random.Random(1)

    def claim(now: int) -> int | None:  # what a command asks after it recorded an event
        return due.claim(spool_path, now, 100, 60_000, 1.0)

    with Spool(spool_path) as s:
        with freeze_time(start):
            flush.record(s, flush.Result(error="connection failed"), rng=rng)
            first = due.read(spool_path)["next_attempt_ms"] - t0
            assert 24_000 <= first <= 36_000
            assert claim(t0) is None  # inside the window
        with freeze_time(start + dt.timedelta(seconds=37)):
            # Past the back-off: this command starts a flusher, scheduled for the end of
            # the interval since the last attempt (60 s after it, 23 s from now).
            assert claim(t0 + 37_000) == 23_000
            assert claim(t0 + 37_000) is None  # the claim holds
            flush.record(s, flush.Result(error="connection failed"), rng=rng)
            second = due.read(spool_path)["next_attempt_ms"] - (t0 + 37_000)
            assert 48_000 <= second <= 72_000  # doubled
        for _ in range(20):
            flush.record(s, flush.Result(error="connection failed"), rng=rng)
        assert float(s.get("backoff_s") or 0) == flush.BACKOFF_MAX_S
        flush.record(s, flush.Result(uploaded=3), rng=rng)
        assert "next_attempt_ms" not in due.read(spool_path) and s.get_int("backoff_s") == 0


def test_eight_concurrent_commands_while_a_flusher_runs(
    collector: Collector, spool_path: Path, noticed: Path
) -> None:
    ids = fill_spool(spool_path, 4000)
    collector.delay = 0.4  # 8 batches: the flusher runs for seconds
    spawn_flusher(spool_path)
    assert collector.received.wait(30)
    assert flusher_pids(spool_path)
    runs = cli_at_once("config", "path")
    assert [code for code, _, _ in runs] == [0] * 8
    for _, out, err in runs:
        assert out.strip().endswith("config.toml") and err == ""
    wait_no_flusher(spool_path)
    with Spool(spool_path) as s:
        assert s.get_int("record_errors") == 0
    collector.delay = 0
    if pending(spool_path):
        assert manage.flush_now().delivered
    assert pending(spool_path) == 0
    assert len(collector.stored) == 4008 and set(ids) <= set(collector.stored)
    commands = [e for e in collector.stored.values() if e["command"] == "config"]
    assert len(commands) == 8


def test_foreground_flush_fails_with_one_line_when_offline(spool_path: Path) -> None:
    fill_spool(spool_path, 5)
    result = cli("telemetry", "flush")
    assert result.returncode == 6
    assert result.stderr.strip().count("\n") == 0 and "5 still queued" in result.stderr
    assert pending(spool_path) == 5


def test_background_flush_detaches_and_delivers(collector: Collector, spool_path: Path) -> None:
    ids = fill_spool(spool_path, 700)
    result = cli("telemetry", "flush", "--background")
    assert result.returncode == 0
    assert wait_until(lambda: len(collector.stored) == 700, 30)
    assert set(collector.stored) == set(ids)
    wait_no_flusher(spool_path)
    assert pending(spool_path) == 0


@pytest.mark.parametrize(
    "endpoint", ["http://telemetry.example.com", "ftp://127.0.0.1", "not a url"]
)
def test_insecure_endpoint_is_refused(
    endpoint: str, spool_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iconiq.telemetry.flusher import run

    fill_spool(spool_path, 2)
    monkeypatch.setenv("ICONIQ_TELEMETRY_ENDPOINT", endpoint)
    assert run(spool_path) == 1
    with Spool(spool_path) as s:
        assert "https" in (s.get("last_error") or "") and s.pending()[0] == 2
    result = cli("telemetry", "flush")
    assert result.returncode == 2 and "https" in result.stderr


def test_tls_error_is_recorded_not_raised(
    collector: Collector, spool_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from iconiq.telemetry.flusher import run

    fill_spool(spool_path, 2)
    monkeypatch.setenv("ICONIQ_TELEMETRY_ENDPOINT", collector.url.replace("http://", "https://"))
    started = time.monotonic()
    assert run(spool_path, limit=25) == 1  # soft deadline 5 s: retried, then given up
    assert time.monotonic() - started < 20
    with Spool(spool_path) as s:
        assert s.get("last_error") == "tls error" and s.pending()[0] == 2
    assert due.read(spool_path)["next_attempt_ms"] > 0


def test_watchdog_ends_a_stuck_flusher() -> None:
    code = "import time; from iconiq.telemetry import flusher as f; f._watchdog(0.5); time.sleep(9)"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], timeout=30)
    assert done.returncode == 3 and time.monotonic() - started < 10


# A host like the CLI (one thread) spawns, waits for its flusher, then lists its
# own children: none may be a zombie, and the flusher must not be one of them.
_HOST = """
import json, os, sys, time
from pathlib import Path
from iconiq.telemetry.spawn import flusher_running, spawn_flusher
spool = Path(sys.argv[1])
spawn_flusher(spool)
deadline = time.monotonic() + 10
while not flusher_running(spool) and time.monotonic() < deadline:
    time.sleep(0.02)
children = []
for entry in Path("/proc").iterdir():
    if entry.name.isdigit():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            children.append([int(entry.name), fields[0]])
print(json.dumps({"pid": os.getpid(), "running": flusher_running(spool), "children": children}))
"""


def test_spawning_leaves_no_zombie(spool_path: Path) -> None:
    import json

    fill_spool(spool_path, 1)
    done = subprocess.run(
        [sys.executable, "-c", _HOST, str(spool_path)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["running"] is True
    assert report["children"] == []  # no zombie, and the flusher is not the host's child
    [pid] = flusher_pids(spool_path)
    assert pid != report["pid"]
    wait_no_flusher(spool_path)


def test_first_run_race_on_a_fresh_home(
    collector: Collector, spool_path: Path, noticed: Path
) -> None:
    """Eight commands create and migrate the spool at the same moment: none fails, all count."""
    collector.mode = "503"  # keep the events in the spool to count them
    assert not recorded(spool_path)
    runs = cli_at_once("config", "path")
    assert [code for code, _, _ in runs] == [0] * 8
    assert all(err == "" for _, _, err in runs)
    wait_no_flusher(spool_path)
    with Spool(spool_path) as s:
        assert s.pending()[0] == 8 and s.get_int("record_errors") == 0


def test_spawning_from_a_threaded_host(spool_path: Path) -> None:
    import threading

    fill_spool(spool_path, 1)
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        spawn_flusher(spool_path)
        assert wait_until(lambda: bool(flusher_pids(spool_path)), 10)
        [pid] = flusher_pids(spool_path)
        assert os.getsid(pid) != os.getsid(0)  # a session of its own, not the host's
        assert os.getpgid(pid) != os.getpgid(0)
    finally:
        stop.set()
        worker.join()
    wait_no_flusher(spool_path)


_HOST_WITH_FDS = """
import os, sys
from pathlib import Path
from iconiq.telemetry.spawn import spawn_flusher
read, write = os.pipe()
os.set_inheritable(read, True)
os.set_inheritable(write, True)
spawn_flusher(Path(sys.argv[1]), delay_ms=20_000)  # a scheduled flusher: it sleeps first
print(os.fstat(read).st_ino)
"""


def test_the_flusher_keeps_no_descriptor_or_directory_of_its_host(
    spool_path: Path, tmp_path: Path
) -> None:
    """posix_spawn through /bin/sh (or the fork it replaces): the flusher starts in /, with
    stdio on /dev/null and none of the host's inheritable descriptors."""
    fill_spool(spool_path, 1)
    done = subprocess.run(
        [sys.executable, "-c", _HOST_WITH_FDS, str(spool_path)],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    pipe = f"pipe:[{done.stdout.split()[-1]}]"
    assert wait_until(lambda: bool(flusher_pids(spool_path)), 10)
    [pid] = flusher_pids(spool_path)
    try:
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
        fds = os.listdir(f"/proc/{pid}/fd")
        links = {int(fd): os.readlink(f"/proc/{pid}/fd/{fd}") for fd in fds}
        assert [links[fd] for fd in (0, 1, 2)] == [os.devnull] * 3
        assert pipe not in links.values(), links
    finally:
        os.kill(pid, 9)
    wait_no_flusher(spool_path)
