"""Recording: one complete v1 event per user command, nothing for the rest."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iconiq.cli.main import main
from iconiq.run import Run
from iconiq.telemetry import hooks, schema
from iconiq.telemetry.spool import MIGRATIONS, Spool
from iconiq.telemetry.spool import exists as recorded
from tests.telemetry.conftest import (
    RECORDING_MODULES,
    SPAWN_MODULES,
    cli,
    flusher_pids,
    queued_events,
    wait_no_flusher,
)


@pytest.fixture(autouse=True)
def refused_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flushers started here give up at once: plain http to a non-loopback host is refused
    before any connection is made (tests that need a server set their own endpoint)."""
    monkeypatch.setenv("ICONIQ_TELEMETRY_ENDPOINT", "http://192.0.2.1")


events = queued_events


def test_command_records_one_complete_event(spool_path: Path, noticed: Path) -> None:
    result = cli("config", "path")
    assert result.returncode == 0, result.stderr
    [event] = events(spool_path)
    assert list(event) == list(schema.WIRE_FIELDS)
    assert event["command"] == "config" and event["success"] is True
    assert event["schema"] == 1 and event["error_type"] is None
    assert isinstance(event["execution_time"], int) and event["execution_time"] >= 0
    assert event["os"] == "linux" and event["python"].count(".") == 1  # type: ignore[union-attr]
    for key in ("event_id", "session_id", "install_id"):
        value = str(event[key])
        assert len(value) == 36 and value[14] == "4"
    wait_no_flusher(spool_path)


def test_failure_records_error_type_and_flags(spool_path: Path, noticed: Path) -> None:
    result = cli("icon", "--prompt", "a red fox", "--model", "nonsense", "--force")
    assert result.returncode == 2
    [event] = events(spool_path)
    assert event["command"] == "icon" and event["success"] is False
    assert event["error_type"] == "invalid_input"
    assert set(event["flags"]) >= {"--prompt", "--model", "--force"}  # type: ignore[arg-type]
    # The prompt's length is known before the bad option is: it is recorded, never the text.
    assert "a red fox" not in json.dumps(event) and event["prompt_length"] == 9
    wait_no_flusher(spool_path)


def test_cancelled_run_is_recorded(spool_path: Path, noticed: Path) -> None:
    run = Run(command="icon", invoked=True, success=False, error_type="cancelled", exit_code=130)
    hooks.after_command(run)
    [event] = events(spool_path)
    assert event["error_type"] == "cancelled" and event["success"] is False
    wait_no_flusher(spool_path)


@pytest.mark.parametrize(
    "args", [["telemetry", "status"], ["--help"], ["config", "path", "--help"], ["--version"]]
)
def test_no_event_for_help_version_and_telemetry(
    args: list[str], spool_path: Path, noticed: Path
) -> None:
    assert main(args) == 0
    assert events(spool_path) == []


def test_spool_migrations_are_recorded(spool_path: Path) -> None:
    with Spool(spool_path):
        pass
    db = sqlite3.connect(spool_path)
    names = [r[0] for r in db.execute("SELECT name FROM migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_spool_cap_drops_oldest_and_counts(spool_path: Path) -> None:
    with Spool(spool_path) as s:
        for i in range(10):
            s.append(f"id-{i}", json.dumps({"i": i}), max_events=4)
        assert s.pending()[0] == 4
        assert [q.event_id for q in s.iter_all()] == ["id-6", "id-7", "id-8", "id-9"]
        assert s.get_int("dropped") == 6
        s.append("big", "x" * 300, max_bytes=320)  # 4 x 8 bytes + 300 > 320: two go
        assert [q.event_id for q in s.iter_all()] == ["id-8", "id-9", "big"]
        assert s.get_int("dropped") == 8
        assert s.pending() == (3, 316)


def test_debug_prints_event_to_stderr(spool_path: Path, noticed: Path) -> None:
    result = cli("config", "path", env={"ICONIQ_TELEMETRY_DEBUG": "1"})
    line = [x for x in result.stderr.splitlines() if x.startswith("iconiq telemetry: ")]
    assert len(line) == 1
    assert json.loads(line[0].split(": ", 1)[1])["command"] == "config"
    wait_no_flusher(spool_path)


@pytest.mark.parametrize("var", ["DO_NOT_TRACK", "ICONIQ_TELEMETRY_DISABLED"])
def test_env_opt_out_writes_nothing_and_spawns_nothing(
    var: str, iconiq_home: Path, spool_path: Path
) -> None:
    before = sorted(p.name for p in iconiq_home.iterdir())
    result = cli("config", "path", env={var: "1"})
    assert result.returncode == 0 and result.stderr == ""
    assert sorted(p.name for p in iconiq_home.iterdir()) == before == []
    assert flusher_pids(spool_path) == []
    # The same command with telemetry on does write and spawn (the check above can fail).
    (iconiq_home / "telemetry-notice-shown").touch()
    assert cli("config", "path", env={var: "0"}).returncode == 0
    assert recorded(spool_path) and len(events(spool_path)) == 1
    wait_no_flusher(spool_path)


def test_recording_path_imports_nothing_heavy(spool_path: Path, noticed: Path) -> None:
    """With telemetry on, a command loads only the recording path's modules (and the
    spawn's, when it starts a flusher) beyond what it loads with telemetry off."""
    heavy = ("httpx", "tenacity", "filelock", "sqlite_utils", "openai", "sqlite3")
    code = (
        "import json, sys; from iconiq.cli.main import main; main(['config', 'path']);"
        " print('LOADED=' + json.dumps(sorted(sys.modules)))"
    )

    def loaded(env: dict[str, str]) -> set[str]:
        out = subprocess.run(
            [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True
        ).stdout
        line = [x for x in out.splitlines() if x.startswith("LOADED=")][-1]
        return set(json.loads(line.removeprefix("LOADED=")))

    on, off = loaded({}), loaded({"DO_NOT_TRACK": "1"})
    assert len(events(spool_path)) == 1  # the "on" run did record
    assert "iconiq.telemetry.inbox" in on - off and "iconiq.telemetry.spool" not in on
    assert on - off <= RECORDING_MODULES | SPAWN_MODULES, sorted(on - off)
    assert not {m for m in on for h in heavy if m == h or m.startswith(h + ".")}
    wait_no_flusher(spool_path)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12),
        st.none()
        | st.booleans()
        | st.integers()
        | st.text()
        | st.lists(st.text(max_size=8), max_size=4)
        | st.floats(allow_nan=False),
        max_size=8,
    )
)
def test_event_json_is_exactly_json_dumps(event: dict[str, object]) -> None:
    from iconiq.telemetry.event import dumps

    assert dumps(event) == json.dumps(event, separators=(",", ":"), ensure_ascii=True)
