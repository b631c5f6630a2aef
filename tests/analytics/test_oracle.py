"""The oracle: every metric in the registry against a plain-Python computation of its definition.

A known data set (five releases with different failure rates, 130 installs over 95 days, CI
and interactive installs, countries through a trusted proxy, events at 00:00:00.000 and
23:59:59.999 UTC around Sundays, Mondays and month ends, duplicates sent twice, late uploads
of old events after the rollups were folded, a few events of the last minutes) goes through
the real HTTP API of a real ``iconiq-server`` process running in a non-UTC time zone, on
SQLite and on PostgreSQL. Then every metric ``GET /v1/metrics`` lists is fetched for many
ranges and filters (the whole span, a single day, a range with no events, a Wednesday ``to``,
a Sunday-Monday pair, ranges cutting months, version and command filters) and compared with
what ``docs/analytics.md`` says it is, computed here from the events themselves: nothing
below reads the server's code or its rollups. Percentiles are compared within the documented
bucket error (4.5 %); everything else must be equal.

A metric added to the registry without a definition here fails the test: add one.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.oracle import (
    DEFINITIONS,
    RELEASE,
    TIMED,
    Case,
    Oracle,
    compare,
    compare_release,
)
from tests.support.oracle_data import (
    DAY,
    EPOCH,
    RELEASES,
    SPAN,
    DataSet,
    build,
    day_of_date,
    upload,
    weekday,
)
from tests.support.pg import fresh_database
from tests.support.server import ServerHandle, running_server

# ---------------------------------------------------------------------------------------
# The servers


@dataclass
class Loaded:
    server: ServerHandle
    data: DataSet
    oracle: Oracle
    answers: tuple[int, int]


def _key(database_url: str) -> bytes:
    """The pseudonym key the server's database holds (read directly, as an analyst with the
    database could)."""
    sql = "SELECT value FROM an_secrets WHERE name = 'install_pseudonym_key'"
    if database_url.startswith("sqlite:///"):
        import sqlite3

        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        try:
            return bytes.fromhex(conn.execute(sql).fetchone()[0])
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(database_url) as pg:
        row = pg.execute(sql).fetchone()
        assert row is not None
        return bytes.fromhex(row[0])


def _folded(server: ServerHandle) -> None:
    """Wait until every stored event is folded into the rollups (no "still being folded")."""
    deadline = time.monotonic() + 120
    while True:
        r = httpx.get(server.base_url + "/v1/metrics/summary", headers=server.headers(),
                      params={"days": "1"}, timeout=60)  # fmt: skip
        assert r.status_code == 200, r.text
        if not (r.json()["note"] or ""):
            return
        assert time.monotonic() < deadline, r.json()["note"]
        time.sleep(0.5)


SETUPS = [
    pytest.param(("sqlite", "America/Los_Angeles", 3), id="sqlite-los-angeles"),
    pytest.param(("postgres", "Asia/Kolkata", 6), id="postgres-kolkata",
                 marks=pytest.mark.postgres),
]  # fmt: skip


@pytest.fixture(scope="module", params=SETUPS)
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loaded]:
    kind, zone, top = request.param
    work: Path = tmp_path_factory.mktemp(f"oracle-{kind}")
    with ExitStack() as stack:
        if kind == "sqlite":
            url = f"sqlite:///{work / 'oracle.db'}"
        else:
            url = stack.enter_context(fresh_database("iconiq_t_oracle"))
        yield from _load(url, work, zone, top)


def _load(url: str, work: Path, zone: str, top: int) -> Iterator[Loaded]:
    env = {"TZ": zone, "PGTZ": zone, "ICONIQ_TRUSTED_PROXIES": "127.0.0.1/32",
           "ICONIQ_TOP_VALUES": str(top), "ICONIQ_FOLD_INTERVAL": "1"}  # fmt: skip
    data = build()
    with running_server(url, directory=work, env=env) as srv:
        environ = Path(f"/proc/{srv.pid}/environ").read_bytes().split(b"\0")
        assert f"TZ={zone}".encode() in environ  # the server runs away from UTC
        rng = random.Random(5)
        sent = upload(srv, data.batches, rng)
        _folded(srv)  # everything folded: what follows is a late upload
        late = upload(srv, data.late, rng)
        _folded(srv)
        answers = (sent[0] + late[0], sent[1] + late[1])
        yield Loaded(srv, data, Oracle(data.stored, top, _key(url)), answers)


def cases(data: DataSet) -> list[Case]:
    t = data.today
    first = t - SPAN + 1
    span = (first, t)
    sunday = next(d for d in range(t - 20, t) if weekday(d) == 6)
    wednesday = next(d for d in range(t - 14, t) if weekday(d) == 2)
    month_start = day_of_date((EPOCH + dt.timedelta(days=t - 40)).replace(day=1))
    return [
        Case("whole span", *span),
        Case("last 30 days", t - 29, t),
        Case("single Monday", sunday + 1, sunday + 1),
        Case("single Sunday", sunday, sunday),
        Case("Sunday and Monday", sunday, sunday + 1),
        Case("no events", t - 400, t - 300),
        Case("Wednesday to", wednesday - 40, wednesday),
        Case("first day of a month", month_start, month_start),
        Case("cuts months", month_start - 20, month_start + 40),
        Case("version 1.2.0", *span, version="1.2.0"),
        Case("command config", *span, command="config"),
        Case("version and command", t - 60, t - 3, version="1.1.0", command="icon"),
        Case("unknown version", *span, version="9.9.9"),
        Case("single day, command", sunday + 1, sunday + 1, command="icon"),
    ]


def answer(server: ServerHandle, name: str, c: Case) -> dict[str, Any]:
    r = httpx.get(f"{server.base_url}/v1/metrics/{name}", params=c.params(),
                  headers=server.headers(), timeout=60)  # fmt: skip
    assert r.status_code == 200, (name, c, r.text)
    body: dict[str, Any] = r.json()
    return body


def fetch(server: ServerHandle, name: str, c: Case) -> tuple[list[list[Any]], float, float]:
    t0 = time.time()
    body = answer(server, name, c)
    t1 = time.time()
    return [[row[col] for col in body["columns"]] for row in body["rows"]], t0, t1


def test_uploads_are_counted_once(loaded: Loaded) -> None:
    accepted, duplicates = loaded.answers
    assert accepted == len(loaded.data.stored)
    assert duplicates > 0
    assert len({e["event_id"] for e in loaded.data.stored}) == len(loaded.data.stored)


def test_every_metric_matches_its_definition(loaded: Loaded) -> None:
    listing = httpx.get(loaded.server.base_url + "/v1/metrics", headers=loaded.server.headers())
    names = [m["name"] for m in listing.json()["metrics"]]
    missing = [n for n in names if n not in DEFINITIONS]
    assert not missing, f"metrics without a definition in the oracle: {missing}"
    wrong: list[str] = []
    checked = 0
    for c in cases(loaded.data):
        for name in names:
            compute, kind = DEFINITIONS[name]
            if kind == TIMED:
                continue
            if kind == RELEASE:
                body = answer(loaded.server, name, c)
                problem = compare_release(body, compute(loaded.oracle, c))
            else:
                got, _, _ = fetch(loaded.server, name, c)
                problem = compare(kind, got, compute(loaded.oracle, c))
            checked += 1
            if problem:
                wrong.append(f"{name} [{c.name}]: {problem}")
    assert not wrong, "\n".join(wrong)
    assert checked >= 14 * 20


def test_threshold_of_commands_per_month(loaded: Loaded) -> None:
    t = loaded.data.today
    for threshold in (0, 1, 7, 100, 501, 1_000_000):
        c = Case(f"threshold {threshold}", t - SPAN + 1, t, threshold=threshold)
        got, _, _ = fetch(loaded.server, "commands-per-month", c)
        want = loaded.oracle.commands_per_month(c)
        assert got == want, threshold
    # Some installs are above the default line and some below: the share tells them apart.
    shares = [r[-1] for r in loaded.oracle.commands_per_month(Case("", t - SPAN + 1, t))]
    assert any(0 < s < 1 for s in shares)
    for bad in ("-1", "1.5", "abc", "1000001", "²"):
        r = httpx.get(loaded.server.base_url + "/v1/metrics/commands-per-month",
                      params={"threshold": bad}, headers=loaded.server.headers())  # fmt: skip
        assert r.status_code == 400 and "threshold" in r.json()["error"], bad


def test_live_and_recent(loaded: Loaded) -> None:
    t = loaded.data.today
    for c in (Case("all", t, t), Case("icon", t, t, command="icon")):
        for name in ("live", "recent"):
            for _attempt in range(5):
                got, t0, t1 = fetch(loaded.server, name, c)
                lo, hi = int(t0 * 1000), int(t1 * 1000)
                if lo // 60_000 == hi // 60_000:  # the window cannot have moved meanwhile
                    break
            method = Oracle.live if name == "live" else Oracle.recent
            want = method(loaded.oracle, c, hi)
            assert got == want, (name, c.name)
            assert got == method(loaded.oracle, c, lo)
    live = loaded.oracle.live(Case("all", t, t), int(time.time() * 1000))
    assert sum(r[1] for r in live) >= 1  # the data set has events in the last minutes


def test_the_data_set_covers_what_it_claims(loaded: Loaded) -> None:
    """Guards against a generator that silently stops planting the hard cases."""
    stored = loaded.data.stored
    stamps = {e["timestamp"] % DAY for e in stored}
    assert {0, DAY - 1} <= stamps
    midnight_days = {weekday(e["timestamp"] // DAY) for e in stored if e["timestamp"] % DAY == 0}
    assert {0, 6} <= midnight_days  # Mondays and Sundays at 00:00:00.000
    assert {e["version"] for e in stored} == {r[0] for r in RELEASES}
    assert len({e["install_id"] for e in stored}) >= 50
    assert {e["ci"] for e in stored} == {True, False, None}
    per_install: dict[str, set[Any]] = defaultdict(set)
    for e in stored:
        per_install[e["install_id"]].add((e["os"], e["ci"]))
    assert sum(1 for kinds in per_install.values() if len(kinds) > 1) >= 10  # moves and mixes
    assert len({e["country"] for e in stored}) >= 6
    rates = {}
    for v, _, _ in RELEASES:
        icon = [e for e in stored if e["version"] == v and e["command"] == "icon"]
        rates[v] = sum(1 for e in icon if not e["success"]) / len(icon)
    assert rates["1.2.0"] > 2 * rates["1.1.0"]  # the flaky release
    # Some late events are older than everything their install had sent before (its first
    # seen day moves earlier after the rollups were folded), one install arrives only late.
    before: dict[str, int] = {}
    for _, batch in loaded.data.batches:
        for e in batch:
            before[e["install_id"]] = min(
                e["timestamp"], before.get(e["install_id"], e["timestamp"])
            )
    late = [e for _, batch in loaded.data.late for e in batch]
    assert any(e["install_id"] in before and e["timestamp"] < before[e["install_id"]] for e in late)
    assert any(e["install_id"] not in before for e in late)
