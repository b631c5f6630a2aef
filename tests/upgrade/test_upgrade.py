"""Upgrades in place: files written by the previous release keep working with today's code.

The fixtures under ``release-<commit>/`` were made by that release's own processes
(``make_fixtures.py``): a client spool with pending events, and a SQLite and a
PostgreSQL server database that received ``events.jsonl``. After the upgrade the
pending events are delivered exactly once, and an upgraded server database answers
every metric exactly as a fresh database given the same events does, and still
counts each stored event once.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.pg import fresh_database
from tests.support.server import ServerHandle, running_server

RELEASES = sorted(Path(__file__).parent.glob("release-*"))
RANGE = "from=2026-09-01&to=2026-10-30"
# Time-dependent (received_at, the last minutes) and so not comparable between servers.
SKIP = {"live", "recent"}
SERVER_ENV = {"ICONIQ_RETENTION_DAYS": "3650", "ICONIQ_FOLD_INTERVAL": "1"}


def _manifest(release: Path) -> dict[str, Any]:
    return json.loads((release / "MANIFEST.json").read_text())


def _events(release: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (release / "events.jsonl").read_text().splitlines()]


def _post(srv: ServerHandle, events: list[dict[str, Any]]) -> tuple[int, int]:
    accepted = duplicates = 0
    for i in range(0, len(events), 100):
        r = httpx.post(f"{srv.base_url}/v1/batch", json={"events": events[i : i + 100]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["rejected"] == [], body
        accepted += body["accepted"]
        duplicates += body["duplicates"]
    return accepted, duplicates


def _comparable(value: Any, masked: set[str]) -> Any:
    """A metric answer without what legitimately differs between two servers."""
    rows = [
        {k: ("<install>" if k in masked else v) for k, v in row.items()}
        for row in value["rows"]
    ]
    return {"columns": value["columns"], "rows": rows}


def _all_metrics(srv: ServerHandle) -> dict[str, Any]:
    names = httpx.get(f"{srv.base_url}/v1/metrics", headers=srv.headers()).json()
    out = {}
    for entry in names["metrics"]:
        name = entry["name"]
        if name in SKIP:
            continue
        r = httpx.get(f"{srv.base_url}/v1/metrics/{name}?{RANGE}", headers=srv.headers())
        assert r.status_code == 200, (name, r.text)
        body = r.json()
        # Install identifiers are pseudonyms keyed by each server's own secret.
        masked = {c for c in body["columns"] if "install" in c and c.endswith(("id", "install"))}
        out[name] = _comparable(body, masked)
    return out


@pytest.fixture(params=RELEASES, ids=[r.name for r in RELEASES])
def release(request: pytest.FixtureRequest) -> Path:
    return Path(request.param)


def test_there_is_a_previous_release_to_upgrade_from() -> None:
    assert RELEASES, "tests/upgrade/release-*/ holds the previous release's files"


@pytest.mark.slow
def test_pending_spool_events_are_delivered_once(release: Path, tmp_path: Path) -> None:
    manifest = _manifest(release)
    home = tmp_path / "home"
    home.mkdir()
    for name in ("telemetry.db", "telemetry.db.inbox", "telemetry.db.due"):
        if (release / name).exists():  # the inbox and the due file: releases since 8e1fcce
            shutil.copy(release / name, home / name)
    # What the previous release left beside the spool once the notice was shown.
    (home / "telemetry-notice-shown").touch()
    with running_server(env=SERVER_ENV, directory=tmp_path / "srv") as srv:
        env = dict(os.environ, ICONIQ_HOME=str(home), ICONIQ_TELEMETRY_ENDPOINT=srv.base_url)
        for var in ("DO_NOT_TRACK", "ICONIQ_TELEMETRY_DISABLED"):
            env.pop(var, None)

        def iconiq(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "iconiq", *args], env=env, capture_output=True,
                text=True, timeout=120, stdin=subprocess.DEVNULL,
            )

        status = iconiq("telemetry", "status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["pending"] == manifest["spool_pending"]
        assert iconiq("config", "path").returncode == 0  # the old spool takes new events
        flushed = iconiq("telemetry", "flush")
        assert flushed.returncode == 0, flushed.stderr
        assert iconiq("telemetry", "flush").returncode == 0  # nothing sent twice
        db = srv.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(db) as conn:
            stored = [r[0] for r in conn.execute("SELECT event_id FROM events")]
    assert len(stored) == len(set(stored))
    assert set(manifest["spool_event_ids"]) <= set(stored)
    assert len(stored) == manifest["spool_pending"] + 1


def _compare_with_fresh(upgraded: ServerHandle, fresh: ServerHandle, release: Path) -> None:
    events = _events(release)
    assert _post(fresh, events) == (len(events), 0)
    # Every event the old release stored is still there, once: sending them again
    # to the upgraded database stores nothing.
    assert _post(upgraded, events) == (0, len(events))
    old, new = _all_metrics(upgraded), _all_metrics(fresh)
    assert old.keys() == new.keys()
    for name in new:
        assert old[name] == new[name], name
    assert any(row["value"] == len(events) for row in new["summary"]["rows"])

    # An event with the fields added since (ci_provider, invoked_by) reaches the upgraded
    # database's rollups as it reaches a fresh one's.
    late = {**events[-1], "event_id": str(uuid.uuid4()), "ci": True}
    late.update(ci_provider="gitlab-ci", invoked_by="make")
    assert _post(upgraded, [late]) == _post(fresh, [late]) == (1, 0)
    for name, value in (("ci-providers", "gitlab-ci"), ("invoked-by", "make")):
        answers = [
            httpx.get(f"{srv.base_url}/v1/metrics/{name}?{RANGE}", headers=srv.headers()).json()
            for srv in (upgraded, fresh)
        ]
        assert answers[0]["rows"] == answers[1]["rows"], name
        assert [r["events"] for r in answers[0]["rows"] if value in r.values()] == [1], name


@pytest.mark.slow
def test_sqlite_server_database_upgrades_in_place(release: Path, tmp_path: Path) -> None:
    db = tmp_path / "server.db"
    shutil.copy(release / "server.db", db)
    with running_server(f"sqlite:///{db}", env=SERVER_ENV, directory=tmp_path / "a") as old:
        with running_server(env=SERVER_ENV, directory=tmp_path / "b") as fresh:
            _compare_with_fresh(old, fresh, release)


@pytest.fixture
def restored_postgres(release: Path) -> Iterator[str]:
    with fresh_database() as url:
        subprocess.run(
            ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(release / "server-postgres.sql"),
             url],
            check=True, capture_output=True, timeout=120,
        )
        yield url


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_server_database_upgrades_in_place(
    release: Path, restored_postgres: str, tmp_path: Path
) -> None:
    with fresh_database() as empty:
        with running_server(restored_postgres, env=SERVER_ENV, directory=tmp_path / "a") as old:
            with running_server(empty, env=SERVER_ENV, directory=tmp_path / "b") as fresh:
                _compare_with_fresh(old, fresh, release)
