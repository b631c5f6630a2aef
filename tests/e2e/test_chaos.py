"""Chaos: nothing lost, nothing counted twice, whatever happens on the way.

A real ``iconiq-server`` (on a fresh PostgreSQL database, and again on a SQLite
file) sits behind the chaos proxy: random 500s, 429s with Retry-After, 413s on
splittable batches, held requests, connection resets, lost acknowledgements,
slow bodies. Eight command streams run real ``iconiq icon --model local``
processes at the same time (two streams per iconiq home, so spools are shared),
some succeeding and some failing, and now and then ask for ``iconiq telemetry
flush --background``; a killer sends kill -9 to random detached flushers;
half-way the server is killed (kill -9) and a new one started on the same
database. Then the queues are drained with ``iconiq telemetry flush`` and the
set of ``event_id``s stored by the server must equal the set the clients
recorded (each command prints its event as it records it, with
``ICONIQ_TELEMETRY_DEBUG=1``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from tests.support.chaos_proxy import ChaosProxy, Faults
from tests.support.pg import fresh_database
from tests.support.server import ServerHandle, running_server

SEED = int(os.environ.get("ICONIQ_CHAOS_SEED", "20261127"))
STREAMS = 8
HOMES = 4
COMMANDS_PER_STREAM = 6
ICONIQ = [sys.executable, "-m", "iconiq"]

CHAOS = Faults(
    error_500=0.08,
    rate_limit=0.06,
    too_large=0.08,
    timeout=0.03,
    reset=0.06,
    lost_ack=0.10,
    slow_body=0.08,
    retry_after=1,
    hold_seconds=20.0,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _command(stream: int, i: int, out: Path) -> tuple[list[str], int]:
    """The i-th command of a stream and the exit code it must have."""
    prompt = f"stream {stream} icon {i}"
    if i % 3 == 2:
        return [*ICONIQ, "icon", "--model", "local", "--prompt", prompt, "--format", "bmp"], 2
    fmt = ("png", "webp", "ico")[i % 3]
    target = out / f"s{stream}-{i}.{fmt}"
    return [*ICONIQ, "icon", "--model", "local", "--prompt", prompt, "--output", str(target)], 0


def _recorded(stderr: str) -> list[str]:
    prefix = "iconiq telemetry: "
    return [
        json.loads(line[len(prefix):])["event_id"]
        for line in stderr.splitlines()
        if line.startswith(prefix)
    ]


def _flusher_pids(marker: str) -> list[int]:
    """Detached flushers of this test's spools (their command line names the spool)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        text = [a.decode(errors="replace") for a in argv]
        if "iconiq.telemetry.flusher" in text and any(marker in a for a in text):
            pids.append(int(entry.name))
    return pids


class Killer(threading.Thread):
    """Sends kill -9 to a random flusher of ours now and then."""

    def __init__(self, marker: str, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.marker, self.rng = marker, rng
        self.kills = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.rng.uniform(0.2, 0.8)):
            pids = _flusher_pids(self.marker)
            if pids and self.rng.random() < 0.6:
                self.kill(self.rng.choice(pids))

    def kill(self, pid: int) -> None:
        try:
            os.kill(pid, signal.SIGKILL)
            self.kills += 1
        except ProcessLookupError:
            pass


def _stored(database_url: str) -> list[str]:
    if database_url.startswith("sqlite:///"):
        db = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        try:
            return [str(row[0]) for row in db.execute("SELECT event_id FROM events")]
        finally:
            db.close()
    with psycopg.connect(database_url) as conn:
        return [str(row[0]) for row in conn.execute("SELECT event_id FROM events")]


@contextmanager
def _database(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "postgres":
        with fresh_database() as url:
            yield url
    else:  # one file that outlives the server's restart
        yield f"sqlite:///{tmp_path / 'server.db'}"


@pytest.mark.parametrize(
    "kind", [pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"]
)
def test_every_recorded_event_is_stored_exactly_once(tmp_path: Path, kind: str) -> None:
    rng = random.Random(SEED)
    out = tmp_path / "icons"
    out.mkdir()
    homes = [tmp_path / f"home{h}" for h in range(HOMES)]
    started = time.monotonic()

    with _database(kind, tmp_path) as database_url:
        server_cm: AbstractContextManager[ServerHandle] = running_server(database_url)
        server = server_cm.__enter__()
        try:
            with ChaosProxy(server.base_url, CHAOS, seed=SEED) as proxy:
                base_env = dict(os.environ)
                base_env.update(
                    ICONIQ_TELEMETRY_ENDPOINT=proxy.url,
                    ICONIQ_TELEMETRY_DEBUG="1",
                    NO_PROXY="*",
                )

                def env_for(home: Path) -> dict[str, str]:
                    return base_env | {"ICONIQ_HOME": str(home)}

                recorded: list[str] = []
                problems: list[str] = []
                done = Counter[str]()
                lock = threading.Lock()

                def stream(n: int) -> None:
                    home = homes[n % HOMES]
                    for i in range(COMMANDS_PER_STREAM):
                        argv, expected = _command(n, i, out)
                        proc = subprocess.run(
                            argv, env=env_for(home), stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=60, check=False,
                        )
                        ids = _recorded(proc.stderr)
                        with lock:
                            recorded.extend(ids)
                            done["commands"] += 1
                            if proc.returncode != expected or len(ids) != 1:
                                problems.append(
                                    f"{argv[3:]} -> {proc.returncode}, {len(ids)} events,"
                                    f" stderr {proc.stderr[-300:]!r}"
                                )
                            if "Traceback" in proc.stderr or "database is locked" in proc.stderr:
                                problems.append(f"{argv[3:]}: {proc.stderr[-300:]!r}")
                        if i % 2 == 1:  # the user asks for a background flush now and then
                            subprocess.run(
                                [*ICONIQ, "telemetry", "flush", "--background"],
                                env=env_for(home), stdin=subprocess.DEVNULL,
                                capture_output=True, timeout=60, check=False,
                            )

                killer = Killer(str(tmp_path), rng)
                killer.start()
                threads = [threading.Thread(target=stream, args=(n,)) for n in range(STREAMS)]
                for t in threads:
                    t.start()

                # Half-way, restart the server on the same PostgreSQL database.
                half = STREAMS * COMMANDS_PER_STREAM // 2
                while done["commands"] < half and any(t.is_alive() for t in threads):
                    time.sleep(0.1)
                os.kill(server.pid, signal.SIGKILL)  # a crash, not a clean stop
                server_cm.__exit__(None, None, None)
                time.sleep(0.5)  # a moment with nothing listening: the proxy answers 502
                server_cm = running_server(database_url)
                server = server_cm.__enter__()
                proxy.set_upstream(server.base_url)

                for t in threads:
                    t.join(timeout=180)
                killer.stop.set()
                killer.join(timeout=5)
                for pid in _flusher_pids(str(tmp_path)):  # whatever still runs: kill -9 too
                    killer.kill(pid)
                assert not problems, problems

                # Drain: a foreground flush per home, still through the proxy (no held
                # requests now, so each attempt ends quickly), until every queue is empty.
                proxy.set_faults(replace(CHAOS, timeout=0.0))
                drain_attempts = 0
                for home in homes:
                    for _ in range(12):
                        drain_attempts += 1
                        flush = subprocess.run(
                            [*ICONIQ, "telemetry", "flush"], env=env_for(home),
                            stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=120, check=False,
                        )
                        if flush.returncode == 0:
                            break
                    else:
                        pytest.fail(f"{home.name} never drained: {flush.stderr[-500:]}")
                proxy_counts = proxy.snapshot()
        finally:
            server_cm.__exit__(None, None, None)

        stored = _stored(database_url)

    elapsed = time.monotonic() - started
    faults = {k: v for k, v in sorted(proxy_counts.items()) if k != "forwarded"}
    print(
        f"\nchaos on {kind} (seed {SEED}): {done['commands']} commands in {STREAMS} streams"
        f" over {HOMES} homes; recorded {len(recorded)} events ({len(set(recorded))} distinct);"
        f" stored {len(stored)} rows ({len(set(stored))} distinct);"
        f" requests forwarded {proxy_counts.get('forwarded', 0)}; faults injected {faults};"
        f" flushers killed -9: {killer.kills}; server crashes (kill -9) and restarts: 1;"
        f" drain flushes: {drain_attempts}; {elapsed:.0f} s"
    )
    assert len(recorded) == STREAMS * COMMANDS_PER_STREAM
    assert len(set(recorded)) == len(recorded)
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert set(stored) == set(recorded), (
        f"lost: {sorted(set(recorded) - set(stored))[:5]},"
        f" unexpected: {sorted(set(stored) - set(recorded))[:5]}"
    )
    # The run was chaotic enough to mean something.
    assert sum(faults.values()) >= 10, faults
    assert proxy_counts.get("forwarded", 0) >= 5, proxy_counts
