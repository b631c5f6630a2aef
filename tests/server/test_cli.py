"""``iconiq-server`` commands as a user runs them (real subprocesses)."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from iconiq.server.calendar import DAY_MS
from iconiq.server.storage.base import open_store
from tests.server.conftest import make_event, stored


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "iconiq.server.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=60,
    )


def test_help_lists_every_command() -> None:
    out = run("--help")
    assert out.returncode == 0
    for command in ("serve", "migrate", "purge-expired", "import", "report"):
        assert command in out.stdout


def test_migrate_then_up_to_date(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    first = run("migrate", "--database", url)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_events" in first.stdout
    second = run("migrate", env={"ICONIQ_DATABASE_URL": url})
    assert second.returncode == 0 and "up to date" in second.stdout


def test_import_jsonl_and_gzip_exactly_once(db_url: str, tmp_path: Path) -> None:
    events = [make_event() for _ in range(7)]
    plain = tmp_path / "export.jsonl"
    plain.write_text(
        "\n".join(json.dumps(e) for e in events[:4]) + "\nnot json\n" + json.dumps({"x": 1}) + "\n"
    )
    packed = tmp_path / "export.jsonl.gz"
    with gzip.open(packed, "wt") as f:
        f.write("\n".join(json.dumps(e) for e in events) + "\n")
    first = run("import", str(plain), "--database", db_url)
    assert first.returncode == 0, first.stderr
    assert "accepted 4, duplicates 0, rejected 2" in first.stdout
    second = run("import", str(packed), "--database", db_url)
    assert second.returncode == 0, second.stderr
    assert "accepted 3, duplicates 4, rejected 0" in second.stdout
    store = open_store(db_url, pool_size=1)
    try:
        for event in events:
            (row,) = stored(store, "event_id = ?", (event["event_id"],))
            assert row["country"] is None
    finally:
        store.close()


def test_purge_expired_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    now = int(time.time() * 1000)
    export = tmp_path / "e.jsonl"
    events = [make_event(timestamp=now - 20 * DAY_MS), make_event(timestamp=now)]
    export.write_text("\n".join(json.dumps(e) for e in events))
    assert run("import", str(export), "--database", url).returncode == 0
    out = run("purge-expired", "--database", url, "--retention-days", "10")
    assert out.returncode == 0, out.stderr
    assert "deleted 1 events older than 10 days" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("import", "/nonexistent/export.jsonl", "--database", "sqlite:///{tmp}/x.db"),
            "no such file",
        ),
        (("migrate", "--database", "mysql://nope"), "database URL"),
        (
            ("serve", "--host", "0.0.0.0", "--database", "sqlite:///{tmp}/x.db"),
            "ICONIQ_ADMIN_TOKEN has 5 characters",
        ),
        (("purge-expired", "--retention-days", "0"), "retention-days"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    # A token too short for a non-loopback bind (the other commands ignore it).
    out = run(
        *(a.replace("{tmp}", str(tmp_path)) for a in args), env={"ICONIQ_ADMIN_TOKEN": "short"}
    )
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_unreachable_postgres_is_one_line() -> None:
    out = run("migrate", "--database", "postgresql://postgres@127.0.0.1:9/nope?connect_timeout=2")
    assert out.returncode != 0
    assert "PostgreSQL" in out.stderr and "Traceback" not in out.stderr


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (the workers of ``serve --workers N``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid and stat[0] != "Z":
                found.append(int(entry.name))
    return found


def _serving(pids: list[int], port: int) -> set[int]:
    """Those of ``pids`` holding an established connection on local ``port``."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "01":
                    inodes.add(cols[9])
    out = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:[") and target[8:-1] in inodes:
                        out.add(pid)
    return out


def test_two_workers_answer_with_the_settings_of_their_command_line(tmp_path: Path) -> None:
    """``serve --workers 2``: the database of ``--database``, the admin token the parent
    made (none in the environment) and ``ICONIQ_ALLOWED_HOSTS`` hold in every worker."""
    import httpx

    from tests.support.server import running_server

    url = f"sqlite:///{tmp_path / 'w.db'}"
    events = [make_event() for _ in range(20)]
    env = {"ICONIQ_ALLOWED_HOSTS": "analytics.example"}
    with running_server(url, workers=2, admin_token="", env=env) as srv:
        deadline = time.monotonic() + 30
        while srv.log().count("Application startup complete") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert srv.log().count("Started server process") == 2
        for event in events:
            assert httpx.post(srv.base_url + "/v1/track", json=event).json()["accepted"] == 1
        assert httpx.post(srv.base_url + "/v1/batch", json={"events": events}).json() == {
            "accepted": 0,
            "duplicates": 20,
            "rejected": [],
        }
        workers = _children(srv.pid)
        port = int(srv.base_url.rsplit(":", 1)[1])
        clients: list[httpx.Client] = []
        answers: list[int] = []

        def metrics(client: httpx.Client, host: str = "analytics.example") -> int:
            return client.get("/v1/metrics", headers={**srv.headers(), "Host": host}).status_code

        try:
            # Kept-alive connections from threads until both workers hold some.
            for _ in range(8):
                batch = [httpx.Client(base_url=srv.base_url) for _ in range(8)]
                clients += batch
                with ThreadPoolExecutor(8) as pool:
                    answers += pool.map(metrics, batch)
                if len(_serving(workers, port)) == 2:
                    break
            assert len(_serving(workers, port)) == 2, "one worker took every connection"
            assert set(answers) == {200}  # each worker knows the token made by the parent
            assert {metrics(c, "other.example") for c in clients} == {403}
        finally:
            for client in clients:
                client.close()
    store = open_store(url, pool_size=1)
    try:
        assert len(stored(store, "1 = 1", ())) == 20  # in the database --database named
    finally:
        store.close()


def test_only_config_reads_the_environment() -> None:
    """Every server setting is read in one place (iconiq/server/config.py)."""
    package = Path(__file__).resolve().parents[2] / "iconiq" / "server"
    readers = [
        f"{path.relative_to(package)}:{number}"
        for path in sorted(package.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bos\.environ\b|\bgetenv\b|\benviron\[", line)
    ]
    assert readers and all(r.startswith("config.py:") for r in readers), readers
