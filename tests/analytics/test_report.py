"""``iconiq-server report`` in a real subprocess: rich tables, ``--json``, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from iconiq.server.storage.base import open_store
from tests.analytics.seed import seeded_rows


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iconiq.server.cli", "report", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def seeded_db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'seeded.db'}"
    store = open_store(url)
    store.migrate()
    store.insert(seeded_rows())
    store.close()
    return url


def test_report_prints_headline_tables(tmp_path: Path) -> None:
    url = seeded_db(tmp_path)
    done = run("--database", url, "--from", "2026-03-02", "--to", "2026-03-15")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "2026-03-02 … 2026-03-15" in out
    for title in ("Headline numbers", "Command frequency", "Errors by type", "Heaviest installs"):
        assert title in out
    assert "network" in out and "timeout" in out
    assert "Active installs, last 7 days" in out  # the headline's label, as on the dashboard


def test_report_json(tmp_path: Path) -> None:
    url = seeded_db(tmp_path)
    done = run("--database", url, "--from", "2026-03-02", "--to", "2026-03-15", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    summary = {r["metric"]: r["value"] for r in data["metrics"]["summary"]}
    assert summary["events"] == 6 and summary["new_installs"] == 3
    assert summary["success_rate"] == 0.6667 and summary["top_command"] == "icon"
    assert summary["active_installs_last_7_days"] == 3
    assert data["metrics"]["commands"][0] == {
        "command": "icon", "events": 5, "share": 0.8333, "failures": 2, "failure_rate": 0.4,
    }  # fmt: skip


def test_report_bad_range_is_one_line(tmp_path: Path) -> None:
    done = run("--database", seeded_db(tmp_path), "--from", "March")
    assert done.returncode != 0
    assert "not a date" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
