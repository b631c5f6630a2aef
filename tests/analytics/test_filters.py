"""Breakdown filters, "(none)" rows, the previous-period comparison and latency over time.

- A breakdown filter (``country``, ``os``, ``model``, ``output_format``, ``ci``) gives,
  for every metric, exactly what the same metric gives unfiltered on a database that
  holds only the matching events (SQLite and PostgreSQL): the scoped rollups are the
  rollups of those events.
- Every single-valued breakdown's shares (and the errors' shares of failures) sum to 1:
  the events without a value are a "(none)" row.
- ``compare=previous`` returns the previous period's own numbers and the change.
- Bad filter values are a 400 (API and pages), never a 500.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from iconiq.errors import InvalidInput
from iconiq.server.analytics import performance, pseudonym, releases
from iconiq.server.analytics.metrics import METRICS, compute
from iconiq.server.analytics.query import Filters
from iconiq.server.calendar import date_of, today
from iconiq.server.events import Row
from iconiq.server.storage.base import Store, open_store
from tests.analytics.seed import DAY_MS, event, install, row
from tests.support.pg import fresh_database
from tests.support.server import ServerHandle, seeded_server

INSTALLS = 24
COUNTRY = {n: ["DE", "US", "JP", None][n % 4] for n in range(INSTALLS)}  # fixed per install
OS = {n: ["linux", "darwin", "windows", None][(n // 4) % 4] for n in range(INSTALLS)}
BREAKDOWN_METRICS = {
    "output-formats": "share", "models": "share", "operating-systems": "share",
    "ci-share": "share", "countries": "share", "errors": "share_of_failures",
    "ci-providers": "share", "invoked-by": "share",
}  # fmt: skip


def generated(n: int = 900, seed: int = 11) -> list[Row]:
    """``n`` events over the last 40 days (and a few in the last minutes) from installs with
    a fixed country and OS; models, formats, CI and error types vary per event, with
    missing values among them (failures without an error type too)."""
    rng = random.Random(seed)
    now = int(time.time() * 1000)
    out = []
    for k in range(n):
        who = rng.randrange(INSTALLS)
        ok = rng.random() > 0.2
        recent = k % 100 == 0
        out.append(row(event(
            install_id=install(who),
            timestamp=now - (rng.randrange(600_000) if recent else rng.randrange(40 * DAY_MS)),
            command=rng.choice(["icon", "icon", "config"]),
            version=rng.choice(["1.0.0", "1.1.0"]), success=ok,
            error_type=None if ok else rng.choice(["network", "timeout", None]),
            execution_time=rng.randrange(5, 20_000),
            api_time=rng.choice([None, rng.randrange(50, 9_000)]),
            model_used=rng.choice(["dall-e-3", "local", None]),
            output_format=rng.choice(["png", "ico", None]),
            ci=rng.choice([True, False, None]), os=OS[who],
            flags=rng.choice([[], ["--prompt"], ["--prompt", "--model"]]),
            prompt_length=rng.choice([None, rng.randrange(1, 200)]),
            ci_provider=rng.choice(["github-actions", "gitlab-ci", None]),
            invoked_by=rng.choice(["terminal", "make", None]),
        ), COUNTRY[who]))  # fmt: skip
    return out


def matches(r: Row, name: str, value: str) -> bool:
    e = r.event
    if name == "country":
        return (r.country or "unknown") == value
    if name == "ci":
        return {True: "ci", False: "interactive", None: "unknown"}[e.ci] == value
    got = {"os": e.os, "model": e.model_used, "output_format": e.output_format,
           "ci_provider": e.ci_provider, "invoked_by": e.invoked_by}[name]  # fmt: skip
    return (got or "(none)") == value


def rows_of(store: Store, name: str, f: Filters) -> list[list[Any]]:
    """The metric's rows, installs shown by number (each database keys its own pseudonyms)."""
    with store.db() as db:
        rows = compute(db, name, f).rows
        if name == "heavy-installs" and rows:
            secret = pseudonym.key(db)
            known = {pseudonym.pseudonym(secret, install(n)): n for n in range(INSTALLS)}
            rows = [[known[r[0]], *r[1:]] for r in rows]
    return rows


@pytest.fixture
def other_store(request: Any, store: Store, tmp_path: Path) -> Iterator[Store]:
    """A second migrated store on the same kind of database as ``store``."""
    if request.node.callspec.params["store"] == "sqlite":
        s = open_store(f"sqlite:///{tmp_path / 'only.db'}")
        s.migrate()
        try:
            yield s
        finally:
            s.close()
        return
    with fresh_database("iconiq_t_only") as url:
        s = open_store(url, pool_size=2)
        s.migrate()
        try:
            yield s
        finally:
            s.close()


# (filters, whether every install has one value of them: new installs then agree too)
CASES = [
    ({"country": "DE"}, True),
    ({"country": "unknown", "os": "(none)"}, True),
    ({"model": "local", "ci": "interactive"}, False),
    ({"output_format": "(none)"}, False),
    ({"ci_provider": "github-actions", "invoked_by": "(none)"}, False),
]
# release-health columns that follow from the release order (see the test)
ORDERED = {"first_seen", "baseline", "regressions"}
# Not comparable by design: retention cohorts ignore filters; live is per minute of "now".
SKIP = {"cohorts", "live"}


@pytest.mark.parametrize(("given", "per_install"), CASES)
def test_a_breakdown_filter_equals_the_metric_over_only_the_matching_events(
    store: Store, other_store: Store, given: dict[str, str], per_install: bool
) -> None:
    events = generated()
    store.insert(events)
    kept = [r for r in events if all(matches(r, k, v) for k, v in given.items())]
    assert 30 < len(kept) < len(events) - 30
    other_store.insert(kept)
    for command in (None, "icon"):
        base = {"days": "30", **({"command": command} if command else {})}
        filtered = Filters.parse({**base, **given})
        plain = Filters.parse(base)
        assert filtered.filtered and filtered.breakdown
        for name in METRICS:
            if name in SKIP or (name == "heavy-installs" and command is None):
                continue  # unfiltered heavy installs count whole weeks: another definition
            got = rows_of(store, name, filtered)
            want = rows_of(other_store, name, plain)
            if name == "summary" and not per_install:
                # an install's first day is its first event of any kind: not a subset's
                got = [r for r in got if r[0] != "new_installs"]
                want = [r for r in want if r[0] != "new_installs"]
            if name == "new-installs" and not per_install:
                continue
            if name == "heavy-installs" and not per_install:  # first_seen: as new_installs
                got, want = [r[:5] + r[6:] for r in got], [r[:5] + r[6:] for r in want]
            if name == "release-health":
                # A version's first day is looked for from the range's first week on (the
                # matching events before it are not read), and the release order and each
                # version's baseline follow from it; the rest of each version's row must agree.
                keep = [i for i, c in enumerate(releases.VERSION_COLUMNS) if c not in ORDERED]
                got = sorted([r[i] for i in keep] for r in got)
                want = sorted([r[i] for i in keep] for r in want)
            assert got == want, (given, command, name)
        everything = rows_of(store, "summary", plain)
        assert everything != rows_of(store, "summary", filtered), "the filter changed nothing"
    # Cohorts are install-level and say the filters do not apply.
    with store.db() as db:
        cohorts = compute(db, "cohorts", Filters.parse({"days": "30", **given}))
    assert cohorts.note and "not applied" in cohorts.note


def test_filter_values_are_checked() -> None:
    for bad in [{"country": "DEU"}, {"country": "D1"}, {"country": "<b>"}, {"os": "beos"},
                {"os": "LINUX"}, {"model": "x" * 21}, {"model": "two words"},
                {"model": "-flag"}, {"output_format": "gif"}, {"ci": "yes"},
                {"ci": "(none)"}, {"country": "(none)"}, {"ci_provider": "travis"},
                {"invoked_by": "bash"}]:  # fmt: skip
        with pytest.raises(InvalidInput):
            Filters.parse(bad)
    f = Filters.parse({"country": "de", "os": "(none)", "model": "gpt-image-1", "ci": "ci",
                       "output_format": "icns"})  # fmt: skip
    assert f.breakdown == (("country", "DE"), ("os", "(none)"), ("model", "gpt-image-1"),
                           ("output_format", "icns"), ("ci", "ci"))  # fmt: skip
    assert "country=DE" in f.query_string() and "os=%28none%29" in f.query_string()
    assert Filters.parse({"country": "unknown"}).get("country") == "unknown"


@pytest.mark.parametrize("top", [25, 1])
def test_breakdown_shares_sum_to_one_with_none(store: Store, top: int) -> None:
    store.insert(generated())
    f = Filters.parse({"days": "30"}, top=top)
    total = dict(rows_of(store, "summary", f))["events"]
    failures = sum(r[1] for r in rows_of(store, "errors", f))
    with store.db() as db:
        failed = db.scalar(
            "SELECT count(*) FROM events WHERE NOT success AND timestamp >= ?",
            [f.start * DAY_MS],
        )
    assert failures == failed > 0
    for name, column in BREAKDOWN_METRICS.items():
        table = rows_of(store, name, f)
        cols = compute_columns(store, name, f)
        shares = [r[cols.index(column)] for r in table]
        assert sum(shares) == pytest.approx(1, abs=0.0001 * len(shares) + 1e-9), (name, table)
        counted = sum(r[1] for r in table)
        assert counted == (failures if name == "errors" else total), (name, table)
        if name != "countries" and name != "ci-share":
            assert table[-1][0] == "(none)" and table[-1][1] > 0, (name, table)


def test_latency_over_time_per_day_and_per_week(store: Store) -> None:
    events = generated()
    store.insert(events)
    f = Filters.parse({"days": "30"})
    table = rows_of(store, "latency-over-time", f)
    assert [r[0] for r in table] == [date_of(d) for d in range(f.start, f.end + 1)]
    cols = compute_columns(store, "latency-over-time", f)
    assert cols[0] == "day" and cols[-1] == "partial"
    assert [r[-1] for r in table] == [False] * 29 + [True]  # today is not over
    # Each day's percentiles are that day's own, as the per-command table computes them.
    for r in table[-8:]:
        one = Filters.parse({"from": r[0], "to": r[0]})
        overall = rows_of(store, "execution-time", one)
        if not overall:
            assert r[1] == 0 and r[2] is None
            continue
        assert r[1] == overall[0][1] and r[2] == overall[0][2] and r[4] == overall[0][4]
        with store.db() as db:
            hist = performance.histograms(db, one, "exec")["*"]
        assert r[3] == performance.percentile(hist, 0.9)
    # Longer than 92 days: per Monday-based week; the first week is cut by the range.
    long = Filters.parse({"days": "120"})
    weekly = rows_of(store, "latency-over-time", long)
    assert compute_columns(store, "latency-over-time", long)[0] == "week"
    assert weekly[0][-1] is True and weekly[-1][-1] is True
    assert sum(r[1] for r in weekly) == sum(1 for e in events if e.event.execution_time is not None)


def compute_columns(store: Store, name: str, f: Filters) -> list[str]:
    with store.db() as db:
        return compute(db, name, f).columns


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    with seeded_server(tmp_path_factory.mktemp("filters-http"), generated()) as srv:
        yield srv


def get(server: ServerHandle, path: str, **params: str) -> httpx.Response:
    return httpx.get(server.base_url + path, params=params, headers=server.headers())


def test_bad_filters_are_a_400_on_the_api_and_the_pages(server: ServerHandle) -> None:
    for params in [{"country": "Germany"}, {"os": "plan9"}, {"model": "a" * 300},
                   {"output_format": "tiff"}, {"ci": "maybe"}, {"compare": "next"},
                   {"model": "bad\x00value"}]:  # fmt: skip
        r = get(server, "/v1/metrics/summary", **params)
        assert r.status_code == 400 and "error" in r.json(), (params, r.text)
        page = get(server, "/usage", **params)
        assert page.status_code == 400, (params, page.status_code)
    ok = get(server, "/v1/metrics/countries", country="DE", os="linux", days="30")
    assert ok.status_code == 200
    body = ok.json()
    assert body["filters"]["country"] == "DE" and body["filters"]["os"] == "linux"
    assert [r["country"] for r in body["rows"]] == ["DE"]
    # The live view (no range) reads the matching events in place.
    recent = get(server, "/v1/metrics/recent", country="JP").json()["rows"]
    assert recent and {r["country"] for r in recent} == {"JP"}
    everyone = get(server, "/v1/metrics/live").json()["rows"]
    japan = get(server, "/v1/metrics/live", country="JP").json()["rows"]
    assert 0 < sum(r["events"] for r in japan) < sum(r["events"] for r in everyone)
    # Per-install answers say what a breakdown filter means for them; others have no note.
    new = get(server, "/v1/metrics/new-installs", country="DE").json()
    assert "first seen that day" in new["note"]
    assert get(server, "/v1/metrics/new-installs").json()["note"] is None
    assert body["note"] is None


def test_summary_compares_with_the_previous_period(server: ServerHandle) -> None:
    now = get(server, "/v1/metrics/summary", days="14", compare="previous").json()
    assert now["columns"] == ["metric", "value", "previous", "change", "change_kind"]
    end = today()
    prev_range = {"from": date_of(end - 27), "to": date_of(end - 14)}
    assert now["previous_period"] == prev_range
    before = {r["metric"]: r["value"] for r in get(server, "/v1/metrics/summary",
                                                   **prev_range).json()["rows"]}  # fmt: skip
    current = {r["metric"]: r["value"] for r in get(server, "/v1/metrics/summary",
                                                    days="14").json()["rows"]}  # fmt: skip
    rows = {r["metric"]: r for r in now["rows"]}
    assert set(rows) == set(current)
    for name, r in rows.items():
        assert r["value"] == current[name] and r["previous"] == before[name], name
    events = rows["events"]
    assert events["previous"] > 0 and events["change_kind"] == "relative"
    assert events["change"] == round((events["value"] - events["previous"]) / events["previous"], 4)
    rate = rows["success_rate"]
    assert rate["change_kind"] == "points"
    assert rate["change"] == round(rate["value"] - rate["previous"], 4)
    assert rows["top_command"]["change"] is None and rows["top_command"]["change_kind"] is None
    # Without compare=previous the answer is the plain table.
    assert get(server, "/v1/metrics/summary", days="14").json()["columns"] == ["metric", "value"]


def test_a_filtered_metric_leaves_no_temporary_table_behind(store: Store) -> None:
    store.insert(generated(200))
    f = Filters.parse({"days": "30", "country": "DE"})
    with store.db() as db:
        for name in ("summary", "daily-active", "errors", "heavy-installs"):
            assert compute(db, name, f).rows
        if db.postgres:
            left = db.scalar(
                "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'scope\\_%' ESCAPE '\\'"
            )
        else:
            left = db.scalar(
                "SELECT count(*) FROM temp.sqlite_master WHERE name LIKE 'scope\\_%' ESCAPE '\\'"
            )
    assert left == 0
