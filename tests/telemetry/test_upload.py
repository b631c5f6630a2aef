"""``iconiq telemetry upload FILE``: opt-out wins (nothing sent, exit 2), and an upload
the server stored none of (every event rejected) fails instead of exiting 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.telemetry.collector import Collector
from tests.telemetry.conftest import cli, fill_spool


def exported(spool: Path, target: Path, count: int, command: str = "icon") -> list[str]:
    ids = fill_spool(spool, count, command=command)
    done = cli("telemetry", "export", str(target))
    assert done.returncode == 0, done.stderr
    return ids


@pytest.mark.parametrize(
    ("env", "source"),
    [
        ({"DO_NOT_TRACK": "1"}, "DO_NOT_TRACK"),
        ({"ICONIQ_TELEMETRY_DISABLED": "true"}, "ICONIQ_TELEMETRY_DISABLED"),
        ({}, "config file"),
    ],
)
def test_upload_sends_nothing_while_telemetry_is_off(
    env: dict[str, str], source: str, collector: Collector, spool_path: Path, tmp_path: Path
) -> None:
    target = tmp_path / "events.jsonl"
    exported(spool_path, target, 3)
    if not env:
        assert cli("config", "--telemetry", "false").returncode == 0
    result = cli("telemetry", "upload", str(target), env=env)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"telemetry is off (decided by: {source})" in result.stderr
    assert "was not sent" in result.stderr
    assert collector.counts["requests"] == 0 and collector.stored == {}
    if env:  # the same file goes once the opt-out is lifted
        again = cli("telemetry", "upload", str(target))
        assert again.returncode == 0 and "3 uploaded" in again.stdout
        assert len(collector.stored) == 3


def test_upload_fails_when_the_server_stored_none(
    collector: Collector, spool_path: Path, tmp_path: Path
) -> None:
    collector.reject_command = "bad"
    target = tmp_path / "bad.jsonl"
    exported(spool_path, target, 4, command="bad")
    result = cli("telemetry", "upload", str(target))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "0 uploaded" in result.stderr and "4 rejected" in result.stderr
    assert "stored none of them (first: invalid)" in result.stderr
    assert collector.counts["requests"] == 1 and collector.stored == {}

    good_file = tmp_path / "good.jsonl"
    good = exported(spool_path, good_file, 3)
    some = tmp_path / "some.jsonl"
    some.write_text(target.read_text() + good_file.read_text())  # some stored: exit 0
    result = cli("telemetry", "upload", str(some))
    assert result.returncode == 0, result.stderr
    assert "3 uploaded" in result.stdout and "4 rejected" in result.stdout
    assert set(collector.stored) == set(good)
