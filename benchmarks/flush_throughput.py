"""How fast a backlog drains: 100,000 queued events uploaded by ``iconiq telemetry flush``.

    .venv/bin/python benchmarks/flush_throughput.py [--events 100000]

The same backlog (well-formed v1 events in a fresh spool) is uploaded, with
``iconiq telemetry flush`` as a real process (batches of 500, gzip, its
progress bar on a pipe), to:

* the real ``iconiq-server`` (a subprocess on 127.0.0.1, SQLite database);
* a minimal collector on 127.0.0.1 (parses and dedupes in memory: the client's ceiling).

Prints events per second for each, side by side in this one run, and checks
that every event arrived exactly once.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from iconiq.run import Run  # noqa: E402
from iconiq.telemetry import event  # noqa: E402
from iconiq.telemetry.spool import Spool, uuid4  # noqa: E402
from tests.support.server import running_server  # noqa: E402
from tests.telemetry.collector import Collector  # noqa: E402


def fill(home: Path, count: int) -> list[str]:
    """A spool with ``count`` events, written in one transaction (fast to set up)."""
    home.mkdir(parents=True, exist_ok=True)
    run = Run(command="icon", invoked=True, success=True, flags=["--prompt", "--model"])
    run.note(prompt_length=40, model_used="local", output_format="png", execution_time=90)
    with Spool(home / "telemetry.db") as spool:
        install = uuid4()
        spool.set(install_id=install)
        rows = []
        for _ in range(count):
            payload = event.build(run, install)
            rows.append((payload["event_id"], int(time.time() * 1000), event.dumps(payload)))
        with spool.transaction() as db:
            db.executemany(
                "INSERT INTO events (event_id, created_ms, body) VALUES (?, ?, ?)", rows
            )
    return [r[0] for r in rows]


def flush(home: Path, endpoint: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = dict(os.environ)
    env.update(
        ICONIQ_HOME=str(home), ICONIQ_TELEMETRY_ENDPOINT=endpoint, NO_PROXY="*", COLUMNS="80"
    )
    for name in ("DO_NOT_TRACK", "ICONIQ_TELEMETRY_DISABLED"):
        env.pop(name, None)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "iconiq", "telemetry", "flush"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    return time.perf_counter() - started, done


def server_count(database_url: str, ids: list[str]) -> tuple[int, int]:
    db = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    try:
        db.execute("CREATE TEMP TABLE want (event_id TEXT PRIMARY KEY)")
        db.executemany("INSERT INTO want VALUES (?)", [(i,) for i in ids])
        row = db.execute(
            "SELECT count(*), count(DISTINCT e.event_id) FROM events e JOIN want USING (event_id)"
        ).fetchone()
        return int(row[0]), int(row[1])
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="iconiq-flush-bench-") as tmp:
        base = Path(tmp)
        with running_server(directory=base / "server") as srv:
            ids = fill(base / "home-server", args.events)
            seconds, done = flush(base / "home-server", srv.base_url)
            stored, distinct = server_count(srv.database_url, ids)
            rows.append(("iconiq-server (SQLite)", seconds, done.returncode, stored, distinct))
        with Collector() as collector:
            ids = fill(base / "home-collector", args.events)
            seconds, done = flush(base / "home-collector", collector.url)
            got = [i for i in ids if i in collector.stored]
            rows.append(("minimal collector", seconds, done.returncode, len(got), len(set(got))))
    print(f"backlog of {args.events} events, `iconiq telemetry flush`, batches of 500, gzip")
    print()
    print("| target                 | seconds | events/s | exit | stored | distinct |")
    print("|------------------------|---------|----------|------|--------|----------|")
    for name, seconds, code, stored, distinct in rows:
        print(
            f"| {name:<22} | {seconds:7.1f} | {args.events / seconds:8.0f} | {code:4d} |"
            f" {stored:6d} | {distinct:8d} |"
        )
    ratio = rows[1][1] / rows[0][1]
    print()
    print(f"server vs collector throughput: {ratio:.2f}x")


if __name__ == "__main__":
    main()
