"""The benchmark scripts still run: a small generated data set is realistic and exact,
and the panel benchmark prints its tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from iconiq.server.storage.base import open_store

ROOT = Path(__file__).resolve().parents[2]


def test_dataset_and_panels_scripts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    gen = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "dataset.py"), "--database", url,
         "--events", "4000", "--end", "2026-06-30"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    assert "4,000 events into sqlite" in gen.stdout
    store = open_store(url)
    with store.db() as db:
        (events, installs, versions, countries, failures, first, last), = db.fetch(
            "SELECT count(*), count(DISTINCT install_id), count(DISTINCT version),"
            " count(DISTINCT country), sum(1 - success), min(timestamp), max(timestamp)"
            " FROM events",
        )  # fmt: skip
        rolled = db.fetch("SELECT sum(events) FROM an_daily WHERE dim = 'total'")
    store.close()
    assert events == 4000 and rolled[0][0] == 4000
    assert installs > 10 and versions > 3 and countries > 5 and 0 < failures < 1000
    assert (last - first) > 300 * 86_400_000, "spread over most of two years"
    panels = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "panels.py"), url],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert panels.returncode == 0, panels.stderr
    assert "heavy-installs" in panels.stdout and "slowest panel" in panels.stdout
