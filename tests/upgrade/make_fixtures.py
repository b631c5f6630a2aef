"""Write the files a release leaves on users' machines and servers, for the upgrade tests.

Run with the release's own code (a checkout of that commit, its virtualenv):

    .venv/bin/python tests/upgrade/make_fixtures.py tests/upgrade/release-<commit>

It writes, made by that release's real processes:

- ``telemetry.db``: a client spool with pending events (real ``iconiq`` commands run
  while the endpoint was unreachable) and its state (install id, counters, backoff);
  from releases with an inbox, also ``telemetry.db.inbox`` (events recorded during
  the back-off) and ``telemetry.db.due`` (the delivery state);
- ``events.jsonl``: a fixed data set of v1 events (several installs, versions,
  commands, failures and days);
- ``server.db``: an ``iconiq-server`` SQLite database that received ``events.jsonl``
  through ``POST /v1/batch`` and folded its rollups;
- ``server-postgres.sql``: the same for PostgreSQL, as ``pg_dump --no-owner``;
- ``MANIFEST.json``: the release's commit and what the files hold.

The files are committed; the tests upgrade copies of them with today's code.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.support.pg import fresh_database  # noqa: E402
from tests.support.server import running_server  # noqa: E402

DAY_MS = 86_400_000
START_MS = 1_788_220_800_000  # 2026-09-01T00:00:00Z
DAYS = 60


def dataset(seed: int = 11) -> list[dict[str, object]]:
    """A deterministic set of valid v1 events over 60 days from 2026-09-01."""
    rng = random.Random(seed)
    installs = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(12)]
    versions = ["0.9.0", "1.0.0", "1.1.0"]
    commands = ["icon", "config", "telemetry"]
    events: list[dict[str, object]] = []
    for i in range(400):
        install = installs[i % len(installs)]
        day = rng.randrange(DAYS)
        ts = START_MS + day * DAY_MS + rng.randrange(DAY_MS)
        command = rng.choice(commands)
        success = rng.random() > 0.15
        icon = command == "icon"
        events.append(
            {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "session_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "install_id": install,
                "schema": 1,
                "command": command,
                "success": success,
                "timestamp": ts,
                "version": versions[min(2, day // 20)],
                "execution_time": rng.randrange(20, 9000),
                "error_type": None if success else rng.choice(["network", "auth", "timeout"]),
                "prompt_length": rng.randrange(5, 200) if icon else None,
                "output_format": rng.choice(["png", "webp", "ico"]) if icon else None,
                "model_used": rng.choice(["dall-e-3", "local"]) if icon else None,
                "api_time": rng.randrange(100, 8000) if icon else None,
                "flags": ["--prompt", "--model"] if icon else [],
                "os": rng.choice(["linux", "darwin", "windows"]),
                "python": rng.choice(["3.11", "3.12"]),
                "ci": rng.random() < 0.2,
            }
        )
    return events


def _checkpoint(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def make_spool(out: Path) -> dict[str, object]:
    """Pending events from real commands run with the endpoint refusing connections."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "telemetry-notice-shown").touch()
        env = dict(os.environ)
        env.update(
            ICONIQ_HOME=str(home),
            ICONIQ_TELEMETRY_ENDPOINT="http://127.0.0.1:9",
            NO_PROXY="*",
        )
        for var in ("DO_NOT_TRACK", "ICONIQ_TELEMETRY_DISABLED", "ICONIQ_TELEMETRY_DEBUG"):
            env.pop(var, None)
        runs = [["config", "path"]] * 8 + [["config", "get", "nothing.here"]] * 2
        runs += [["icon", "--model", "local", "--prompt", "a kite", "--output",
                  str(Path(tmp) / f"kite{i}.png")] for i in range(3)]
        for args in runs:
            subprocess.run(
                [sys.executable, "-m", "iconiq", *args],
                env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
            )
            time.sleep(0.2)
        time.sleep(3)  # let any flusher that tried give up and record its backoff
        spool = home / "telemetry.db"
        _checkpoint(spool)
        target = out / "telemetry.db"
        target.write_bytes(spool.read_bytes())
        with sqlite3.connect(target) as conn:
            ids = [r[0] for r in conn.execute("SELECT event_id FROM events ORDER BY seq")]
        # Since the inbox (telemetry.db.inbox), events recorded during a back-off wait
        # beside the spool, with the delivery state (telemetry.db.due): they are files
        # that release leaves too.
        for side in ("telemetry.db.inbox", "telemetry.db.due"):
            if (home / side).exists():
                (out / side).write_bytes((home / side).read_bytes())
        if (home / "telemetry.db.inbox").exists():
            lines = (home / "telemetry.db.inbox").read_text().splitlines()
            ids += [json.loads(line)["event_id"] for line in lines if line.strip()]
    return {"pending": len(ids), "event_ids": ids}


def _post_all(base_url: str, events: list[dict[str, object]]) -> None:
    for i in range(0, len(events), 100):
        r = httpx.post(f"{base_url}/v1/batch", json={"events": events[i : i + 100]}, timeout=30)
        r.raise_for_status()
        body = r.json()
        assert body["accepted"] == len(events[i : i + 100]), body


def make_sqlite_server(out: Path, events: list[dict[str, object]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "server.db"
        env = {"ICONIQ_RETENTION_DAYS": "3650", "ICONIQ_FOLD_INTERVAL": "1"}
        with running_server(f"sqlite:///{db}", env=env) as srv:
            _post_all(srv.base_url, events)
            httpx.get(f"{srv.base_url}/v1/metrics/summary?from=2026-09-01&to=2026-10-30",
                      headers=srv.headers(), timeout=30).raise_for_status()  # folds
        _checkpoint(db)
        (out / "server.db").write_bytes(db.read_bytes())


def make_postgres_server(out: Path, events: list[dict[str, object]]) -> None:
    env = {"ICONIQ_RETENTION_DAYS": "3650", "ICONIQ_FOLD_INTERVAL": "1"}
    with fresh_database() as url, running_server(url, env=env) as srv:
        _post_all(srv.base_url, events)
        httpx.get(f"{srv.base_url}/v1/metrics/summary?from=2026-09-01&to=2026-10-30",
                  headers=srv.headers(), timeout=30).raise_for_status()
        dump = subprocess.run(
            ["pg_dump", "--no-owner", "--no-privileges", url],
            check=True, capture_output=True, text=True, timeout=120,
        ).stdout
    (out / "server-postgres.sql").write_text(dump)


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    events = dataset()
    (out / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    spool = make_spool(out)
    make_sqlite_server(out, events)
    make_postgres_server(out, events)
    manifest = {
        "commit": commit,
        "spool_pending": spool["pending"],
        "spool_event_ids": spool["event_ids"],
        "server_events": len(events),
        "range": {"from": "2026-09-01", "to": "2026-10-30"},
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps({k: v for k, v in manifest.items() if k != "spool_event_ids"}))


if __name__ == "__main__":
    main()
