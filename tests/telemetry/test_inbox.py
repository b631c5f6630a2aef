"""The inbox: commands append without SQLite, readers take it into the spool.

Every process here is real: appenders and readers are separate Python processes,
a reader is killed (``os._exit``) at each point of taking the inbox in, locks are
held by other processes, commands are the real CLI. What must hold throughout:
no event lost, none queued twice, nothing a command could not store uncounted,
and no command slowed past the recording budget.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from iconiq.telemetry import due, inbox
from iconiq.telemetry.spool import Spool
from tests.telemetry.collector import Collector
from tests.telemetry.conftest import (
    cli,
    fill_spool,
    flusher_pids,
    pending,
    queued_events,
    status_json,
    wait_no_flusher,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
RELEASES = sorted((ROOT / "tests" / "upgrade").glob("release-*"))

APPENDER = """
import sys
from iconiq.telemetry import inbox
from iconiq.telemetry.ids import uuid4
path, n, tag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for i in range(n):
    eid = uuid4()
    body = '{"event_id":"%s","install_id":null,"command":"%s","timestamp":%d}' % (eid, tag, i + 1)
    inbox.append(path, body, 5.0)
    print(eid, flush=True)
"""

READER = """
import sys, time
from pathlib import Path
from iconiq.telemetry.spool import Spool
path, stop = Path(sys.argv[1]), Path(sys.argv[2])
opened = 0
while not stop.exists():
    with Spool(path):
        opened += 1
print(opened)
"""

# A reader killed at one point of taking the inbox in: inside the spool's write
# transaction (nothing committed), or after the commit, before the inbox is emptied.
KILLED_READER = """
import os, sys
from pathlib import Path
from iconiq.telemetry import inbox, spool
where = sys.argv[2]
if where == "before-commit":
    insert = spool._insert
    def dying_insert(*args, **kwargs):
        insert(*args, **kwargs)
        os._exit(9)
    spool._insert = dying_insert
else:
    inbox.Taken.clear = lambda self: os._exit(9)
spool.Spool(Path(sys.argv[1]))
os._exit(0)
"""

HOLD_INBOX = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.read()
"""


def _python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
    )


def _inbox(spool_path: Path) -> Path:
    return Path(inbox.path_of(spool_path))


def test_appenders_and_readers_at_once_lose_nothing_and_queue_nothing_twice(
    spool_path: Path, tmp_path: Path
) -> None:
    stop = tmp_path / "stop"
    readers = [_python(READER, str(spool_path), str(stop)) for _ in range(2)]
    appenders = [_python(APPENDER, str(spool_path), "150", f"a{n}") for n in range(4)]
    appended = []
    for proc in appenders:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        appended += out.split()
    stop.touch()
    opened = [int(proc.communicate(timeout=60)[0]) for proc in readers]
    assert all(n > 0 for n in opened), opened  # the readers did take the inbox in meanwhile
    assert len(appended) == len(set(appended)) == 600
    queued = [str(e["event_id"]) for e in queued_events(spool_path)]
    assert sorted(queued) == sorted(appended)  # each once: none lost, none twice
    assert _inbox(spool_path).stat().st_size == 0
    with Spool(spool_path) as spool:  # the spool filled in its install id
        install = spool.install_id()
    assert {e["install_id"] for e in queued_events(spool_path)} == {install}


@pytest.mark.parametrize("where", ["before-commit", "after-commit"])
def test_a_reader_killed_while_taking_the_inbox_loses_nothing_and_queues_nothing_twice(
    where: str, spool_path: Path
) -> None:
    ids = _python(APPENDER, str(spool_path), "20", "icon").communicate(timeout=60)[0].split()
    killed = _python(KILLED_READER, str(spool_path), where)
    killed.communicate(timeout=60)
    assert killed.returncode == 9  # it died where it was told to
    assert _inbox(spool_path).stat().st_size > 0  # the inbox was not emptied
    db = sqlite3.connect(spool_path)
    in_spool = db.execute("SELECT count(*) FROM events").fetchone()[0]
    db.close()
    assert in_spool == (0 if where == "before-commit" else 20)
    queued = [str(e["event_id"]) for e in queued_events(spool_path)]
    assert sorted(queued) == sorted(ids)
    assert _inbox(spool_path).stat().st_size == 0


def test_a_line_cut_short_is_counted_and_the_next_event_is_kept(
    spool_path: Path, noticed: Path
) -> None:
    whole = '{"event_id":"5b0f8a8e-6f5e-4d6a-9a1e-1d8c9f0e2a11","install_id":null,"command":"icon"}'
    # A full disk cut the last write short: no newline after it.
    _inbox(spool_path).write_text(whole + "\n" + whole[:40])
    assert cli("config", "path").returncode == 0
    events = queued_events(spool_path)
    assert [e["command"] for e in events] == ["icon", "config"]
    info = status_json()
    assert info["pending"] == 2 and info["dropped_corrupt"] == 1


def test_a_locked_inbox_costs_at_most_the_budget_and_is_counted(
    spool_path: Path, noticed: Path
) -> None:
    def timed() -> tuple[float, subprocess.CompletedProcess[str]]:
        started = time.monotonic()
        done = cli("config", "path")
        return time.monotonic() - started, done

    unlocked = [timed() for _ in range(3)]
    wait_no_flusher(spool_path)
    holder = _python(HOLD_INBOX, inbox.path_of(spool_path))
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        locked = [timed() for _ in range(3)]
        info_while_locked = status_json()  # a reader leaves a locked inbox for later
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    extra = sorted(t for t, _ in locked)[1] - sorted(t for t, _ in unlocked)[1]
    assert extra < 1.0, f"a locked inbox added {extra:.2f} s to a command"  # budget 0.15 s
    for _, done in unlocked + locked:
        assert (done.returncode, done.stderr) == (0, "")
    assert info_while_locked["dropped_locked"] == 3 and not info_while_locked["spool_error"]
    info = status_json()
    assert info["pending"] == 3 and info["dropped_locked"] == 3
    assert "3 (spool locked)" in cli("telemetry", "status").stdout
    wait_no_flusher(spool_path)


def test_a_full_inbox_keeps_what_it_holds_and_counts_what_it_refused(
    spool_path: Path, noticed: Path
) -> None:
    line = '{"event_id":"%s","install_id":null,"command":"icon","timestamp":1}\n'
    from iconiq.telemetry.ids import uuid4

    lines = []
    size = 0
    while size + 200 < inbox.MAX_BYTES:
        text = line % uuid4()
        lines.append(text)
        size += len(text)
    _inbox(spool_path).write_text("".join(lines))
    for _ in range(2):
        done = cli("config", "path", env={"ICONIQ_TELEMETRY_ENDPOINT": "http://127.0.0.1:9"})
        assert (done.returncode, done.stderr) == (0, "")
    info = status_json()
    assert info["dropped_inbox_full"] == 2
    assert info["pending"] == len(lines)  # everything the inbox held, taken in
    assert "2 (inbox full)" in cli("telemetry", "status").stdout
    wait_no_flusher(spool_path)


def test_turning_telemetry_off_deletes_the_inbox_and_the_delivery_state(
    spool_path: Path, noticed: Path
) -> None:
    assert cli("config", "path").returncode == 0
    assert _inbox(spool_path).exists() and Path(due.state_path(spool_path)).exists()
    wait_no_flusher(spool_path)
    done = cli("config", "--telemetry", "false")
    assert done.returncode == 0 and "1 queued events deleted" in done.stdout, done.stdout
    left = sorted(p.name for p in spool_path.parent.iterdir() if p.name.startswith("telemetry"))
    assert left == ["telemetry-notice-shown", "telemetry.db.lock"], left  # no event data


@pytest.mark.skipif(not RELEASES, reason="no previous release's files")
@pytest.mark.parametrize("release", RELEASES, ids=[r.name for r in RELEASES])
def test_a_back_off_in_force_in_an_older_spool_holds_after_the_upgrade(
    release: Path, spool_path: Path, noticed: Path, collector: Collector
) -> None:
    """A spool written by the previous release keeps its delivery state in SQLite; the
    first command after the upgrade moves it out, and the back-off still holds."""
    manifest = json.loads((release / "MANIFEST.json").read_text())
    spool_path.write_bytes((release / "telemetry.db").read_bytes())
    later = int(time.time() * 1000) + 600_000  # its last upload failed a moment ago
    db = sqlite3.connect(spool_path)
    with db:
        db.execute("UPDATE state SET value = ? WHERE key = 'next_attempt_ms'", (str(later),))
    db.close()
    for _ in range(3):
        done = cli("config", "path")
        assert (done.returncode, done.stderr) == (0, "")
    time.sleep(1.0)
    assert flusher_pids(spool_path) == [] and collector.counts["requests"] == 0
    assert due.read(spool_path)["next_attempt_ms"] == later
    info = status_json()
    assert info["pending"] == manifest["spool_pending"] + 3 and info["next_attempt"]
    flushed = cli("telemetry", "flush")  # the user's flush does not wait
    total = manifest["spool_pending"] + 3
    assert flushed.returncode == 0 and f"{total} uploaded (0 already on the server)" in (
        flushed.stdout
    ), flushed.stdout
    assert pending(spool_path) == 0 and len(collector.stored) == total
    assert set(manifest["spool_event_ids"]) <= set(collector.stored)
    assert wait_until(lambda: not flusher_pids(spool_path), 30)


def test_an_event_recorded_while_the_flusher_finishes_is_not_left_behind(
    collector: Collector, spool_path: Path, noticed: Path
) -> None:
    """A command that records while a flusher uploads its last batch sees it at work and
    starts none; the flusher, once it let go of its lock, claims an upload for that
    event (``flusher.follow_up``): it reaches the server with no other command."""
    env = {**os.environ, due.INTERVAL_ENV: "0"}
    fill_spool(spool_path, 1)
    collector.delay = 3.0  # each batch takes 3 s to answer
    flusher = subprocess.Popen(
        [sys.executable, "-m", "iconiq.telemetry.flusher", str(spool_path)],
        env=env,
        stdin=subprocess.DEVNULL,
        cwd="/",
    )
    assert wait_until(lambda: collector.counts["requests"] >= 1, 20)  # its first batch
    assert cli("config", "path", env=env).returncode == 0  # taken by its second pass
    assert wait_until(lambda: collector.counts["requests"] >= 2, 20)  # its last batch
    assert flusher.poll() is None
    assert cli("config", "path", env=env).returncode == 0  # left to the running flusher
    assert flusher.wait(timeout=60) == 0
    collector.delay = 0.0
    assert wait_until(lambda: len(collector.stored) == 3, 30), len(collector.stored)
    wait_no_flusher(spool_path)
    assert pending(spool_path) == 0


def test_an_unusable_delivery_state_starts_no_flusher_and_loses_nothing(
    spool_path: Path, noticed: Path
) -> None:
    """The event is in the inbox before the claim: a claim that fails (here the due file
    is a folder) only means no flusher this time, never an event counted as lost."""
    Path(due.state_path(spool_path)).mkdir()
    for _ in range(2):
        done = cli("config", "path")
        assert (done.returncode, done.stderr) == (0, "")
    assert flusher_pids(spool_path) == []
    info = status_json()
    assert info["pending"] == 2
    assert (info["dropped_locked"], info["dropped_inbox_full"], info["record_errors"]) == (0, 0, 0)
