"""Controls: config on/off, status, show, purge (--remote), export and upload."""

from __future__ import annotations

import gzip
import json
import time
import tomllib
from pathlib import Path

import pytest

from iconiq.telemetry.spool import exists as recorded
from tests.telemetry.collector import Collector
from tests.telemetry.conftest import cli, fill_spool, pending
from tests.telemetry.conftest import status_json as status

STATUS_KEYS = {
    "enabled", "decided_by", "endpoint", "endpoint_problem", "spool", "spool_error",
    "install_id", "pending", "pending_bytes", "uploaded", "dropped", "rejected",
    "dropped_locked", "dropped_inbox_full", "dropped_corrupt", "record_errors",
    "oldest_pending_age_s", "last_upload", "last_error", "last_error_at", "next_attempt",
    "flusher_running", "state", "counters", "last_rejection",
    "next_upload", "flusher_runs", "flusher_cpu_s",
}  # fmt: skip


def install_id(spool: Path) -> str | None:
    from iconiq.telemetry.spool import Spool

    with Spool(spool) as s:
        return s.get("install_id")


def test_status_says_which_setting_decided(iconiq_home: Path, spool_path: Path) -> None:
    info = status()
    assert set(info) == STATUS_KEYS
    assert info["enabled"] is True and info["decided_by"] == "default"
    assert status({"DO_NOT_TRACK": "1"})["decided_by"] == "DO_NOT_TRACK"
    assert status({"ICONIQ_TELEMETRY_DISABLED": "yes"})["decided_by"] == "ICONIQ_TELEMETRY_DISABLED"
    assert status({"DO_NOT_TRACK": "0"})["enabled"] is True
    fill_spool(spool_path, 4)
    info = status()
    assert info["pending"] == 4 and info["oldest_pending_age_s"] == 0
    assert cli("config", "--telemetry", "false").returncode == 0
    assert status()["decided_by"] == "config file" and status()["enabled"] is False
    text = cli("config", "--show-telemetry").stdout
    assert "off (decided by: config file)" in text and "Endpoint" in text


def test_disable_purges_and_records_nothing_then_enable_makes_a_new_id(
    iconiq_home: Path, spool_path: Path, noticed: Path
) -> None:
    fill_spool(spool_path, 3)
    old = install_id(spool_path)
    result = cli("config", "--telemetry", "false")
    assert result.returncode == 0 and "3 queued events deleted" in result.stdout
    assert not recorded(spool_path)
    assert tomllib.loads((iconiq_home / "config.toml").read_text())["telemetry"]["enabled"] is False
    assert cli("config", "path").returncode == 0
    assert not recorded(spool_path)  # off: nothing written
    assert cli("telemetry", "enable").returncode == 0
    assert cli("config", "path").returncode == 0
    new = install_id(spool_path)
    assert new and new != old


def test_disable_deletes_every_file_even_while_a_flusher_holds_the_lock(
    iconiq_home: Path, spool_path: Path, noticed: Path
) -> None:
    from iconiq.telemetry.inbox import dropped_path
    from iconiq.telemetry.spawn import acquire_lock

    fill_spool(spool_path, 3)
    for name in ("telemetry.db.corrupt-1700000000000", "telemetry.db.damaged-1700000000000"):
        (iconiq_home / name).write_bytes(b"events set aside")
    dropped_path(spool_path).write_bytes(b"L")
    lock = acquire_lock(spool_path, timeout=1.0)  # as a flusher at work holds it
    assert lock is not None
    try:
        started = time.monotonic()
        result = cli("telemetry", "disable")
        took = time.monotonic() - started
    finally:
        lock.release()
    assert result.returncode == 0 and "3 queued events deleted" in result.stdout, result.stderr
    assert 3.0 <= took < 30  # it waited for the flusher a moment, then went on
    left = sorted(p.name for p in iconiq_home.glob("telemetry.db*"))
    assert left == ["telemetry.db.lock"]
    assert (status()["state"], status()["pending"]) == ("off", 0)


def test_bad_value_is_one_line(spool_path: Path) -> None:
    result = cli("config", "--telemetry", "maybe")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "true or false" in result.stderr
    assert "Traceback" not in result.stderr


def test_show_prints_exactly_the_queued_events(spool_path: Path) -> None:
    ids = fill_spool(spool_path, 3)
    lines = cli("telemetry", "show").stdout.splitlines()
    assert [json.loads(line)["event_id"] for line in lines] == ids
    from iconiq.telemetry.spool import Spool

    with Spool(spool_path) as s:
        assert lines == [q.body for q in s.iter_all()]


@pytest.mark.parametrize("name", ["events.jsonl", "events.jsonl.gz"])
def test_export_then_upload_twice_is_harmless(
    name: str, collector: Collector, spool_path: Path, tmp_path: Path
) -> None:
    ids = fill_spool(spool_path, 620)
    target = tmp_path / name
    result = cli("telemetry", "export", str(target))
    assert result.returncode == 0 and "620" in result.stdout
    assert pending(spool_path) == 0
    raw = gzip.decompress(target.read_bytes()) if name.endswith(".gz") else target.read_bytes()
    assert [json.loads(line)["event_id"] for line in raw.splitlines()] == ids
    first = cli("telemetry", "upload", str(target))
    assert first.returncode == 0 and "620 uploaded (0 already" in first.stdout
    second = cli("telemetry", "upload", str(target))
    assert second.returncode == 0 and "620 already on the server" in second.stdout
    assert sorted(collector.stored) == sorted(ids)


def test_upload_of_a_bad_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    result = cli("telemetry", "upload", str(bad))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    missing = cli("telemetry", "upload", str(tmp_path / "missing.jsonl"))
    assert missing.returncode != 0 and missing.stderr.count("\n") == 1


def test_purge_local_and_remote(collector: Collector, spool_path: Path) -> None:
    fill_spool(spool_path, 5)
    old = install_id(spool_path)
    copy = spool_path.with_name("telemetry.db.corrupt-1700000000000")
    copy.write_bytes(b"events set aside")
    assert "Deleted 5" in cli("telemetry", "purge").stdout
    assert install_id(spool_path) == old and pending(spool_path) == 0
    assert not copy.exists()  # a damaged copy holds events too
    fill_spool(spool_path, 2)
    result = cli("telemetry", "purge", "--remote")
    assert result.returncode == 0, result.stderr
    assert collector.deleted_installs == [old]
    assert pending(spool_path) == 0 and install_id(spool_path) not in (None, old)


def test_purge_remote_failure_keeps_everything(spool_path: Path) -> None:
    fill_spool(spool_path, 2)
    old = install_id(spool_path)
    result = cli("telemetry", "purge", "--remote")  # the endpoint refuses connections
    assert result.returncode == 6 and "nothing was purged" in result.stderr
    assert pending(spool_path) == 2 and install_id(spool_path) == old
