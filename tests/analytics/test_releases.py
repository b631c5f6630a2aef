"""Release health: a planted regression is reported (metric, JSON, CSV, report, the Releases
page in Chromium at 1440 and 390 px) while a healthy release is not; the statistics match
published and exact reference values; release dates are marked on every time chart.

The planted data set: four versions released ten days apart from Monday 2026-02-02, each
used by its own 25 installs over its first ten days. ``icon`` fails 5 % of 400 runs in 1.9.0
and 5.5 % in 1.10.0 (healthy), then 20 % in 1.11.0 (the regression); ``config`` stays near
2 %. 1.12.0 fails all of its 12 ``icon`` runs: far worse, but too few runs to judge.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from fractions import Fraction
from math import comb
from pathlib import Path
from statistics import NormalDist
from typing import Any

import httpx
import pytest

from iconiq.server.analytics import releases
from iconiq.server.analytics.metrics import compute
from iconiq.server.analytics.query import Filters
from iconiq.server.analytics.releases import (
    REGRESSION_COLUMNS,
    VERSION_COLUMNS,
    fisher_greater,
    version_key,
    wilson,
    worse_p,
    z_greater,
)
from iconiq.server.analytics.rollups.folding import fold_for_read
from iconiq.server.events import Row
from iconiq.server.storage.base import Store, open_store
from tests.analytics.seed import event, install, ms, row
from tests.support.pg import fresh_database
from tests.support.server import ServerHandle, running_server

D0 = dt.date(2026, 2, 2)  # a Monday
RANGE = {"from": "2026-02-02", "to": "2026-03-13"}  # 40 days: every version, whole
# version, first day (days after D0), {command: (runs, failures)}
PLAN: list[tuple[str, int, dict[str, tuple[int, int]]]] = [
    ("1.9.0", 0, {"icon": (400, 20), "config": (100, 2)}),
    ("1.10.0", 10, {"icon": (400, 22), "config": (100, 3)}),
    ("1.11.0", 20, {"icon": (400, 80), "config": (100, 2)}),
    ("1.12.0", 30, {"icon": (12, 12), "config": (30, 1)}),
]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "layout"
SIZES = {"laptop": (1440, 900), "phone": (390, 844)}


def day(offset: int) -> str:
    return (D0 + dt.timedelta(days=offset)).isoformat()


def planted_rows() -> list[Row]:
    out = []
    for k, (version, first, commands) in enumerate(PLAN):
        for command, (runs, failures) in commands.items():
            for i in range(runs):
                failed = (i + 1) * failures // runs != i * failures // runs  # evenly spread
                out.append(row(event(
                    install_id=install(100 * k + i % 25), version=version, command=command,
                    timestamp=ms(day(first + i % 10), 8 + i % 12, i % 60), success=not failed,
                    error_type="api_error" if failed else None,
                )))  # fmt: skip
    return out


# --- reference statistics, computed independently of the code under test ------------------


def fisher_exact_reference(x: int, n: int, x0: int, n0: int) -> float:
    """P(X ≥ x), X hypergeometric, with exact fractions from binomial coefficients."""
    k, total = x + x0, n + n0
    tail = sum(Fraction(comb(k, i) * comb(total - k, n - i)) for i in range(x, min(k, n) + 1))
    return float(tail / comb(total, n))


def z_reference(x: int, n: int, x0: int, n0: int) -> float:
    pooled = (x + x0) / (n + n0)
    z = (x / n - x0 / n0) / (pooled * (1 - pooled) * (1 / n + 1 / n0)) ** 0.5
    return 1 - NormalDist().cdf(z)


def test_wilson_interval_matches_newcombe_1998() -> None:
    # Newcombe, "Two-sided confidence intervals for the single proportion" (Stat. Med.
    # 1998), Table II, method 3 (score interval without continuity correction).
    for successes, n, low, high in [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605),
                                    (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718)]:  # fmt: skip
        got = wilson(successes, n)
        assert got is not None
        assert (round(got[0], 4), round(got[1], 4)) == (low, high), (successes, n, got)
    assert wilson(0, 0) is None
    assert wilson(20, 20) == (pytest.approx(0.8389, abs=1e-4), 1.0)  # 1 - the 0/20 bound


def test_fisher_exact_test_matches_exact_fractions() -> None:
    # Fisher's tea tasting: 3 of 4 cups right against 1 of 4: 17/70.
    assert fisher_greater(3, 4, 1, 4) == pytest.approx(17 / 70, rel=1e-12)
    for table in [(12, 12, 80, 400), (5, 10, 0, 10), (1, 30, 0, 30), (0, 20, 3, 20),
                  (7, 25, 2, 40), (30, 200, 10, 5000), (480, 1000, 450, 1000)]:  # fmt: skip
        assert fisher_greater(*table) == pytest.approx(fisher_exact_reference(*table), rel=1e-9)
    # Far in the tail, summed from the observed count outwards (and stopped early).
    assert fisher_greater(60, 100_000, 5, 100_000) == pytest.approx(
        fisher_exact_reference(60, 100_000, 5, 100_000), rel=1e-8
    )


def test_z_test_matches_the_normal_distribution() -> None:
    # Hand-worked: 20/100 against 10/100, pooled 0.15, z = 0.1 / sqrt(0.15·0.85·0.02) = 1.9803.
    assert z_greater(20, 100, 10, 100) == pytest.approx(0.023835, abs=1e-6)
    for table in [(80, 400, 22, 400), (22, 400, 20, 400), (100, 1000, 130, 1000)]:
        assert z_greater(*table) == pytest.approx(z_reference(*table), rel=1e-9)
    assert z_greater(0, 50, 0, 50) == 1.0  # no failures anywhere: no evidence


def test_the_exact_test_is_used_when_an_expected_count_is_small() -> None:
    assert worse_p(12, 12, 80, 400)[1] == "fisher"  # expected failures in 12 runs: 2.7
    assert worse_p(80, 400, 22, 400)[1] == "z"
    assert worse_p(3, 30, 0, 30) == (pytest.approx(fisher_exact_reference(3, 30, 0, 30)), "fisher")


def test_versions_sort_semantically() -> None:
    shuffled = ["2.0.0", "1.10.0", "(other)", "1.2.0", "2.0.0-rc.10", "2.0.0-rc.2", "1.9.0",
                "2.0.0-beta", "v2.0.1", "1.9.1"]  # fmt: skip
    assert sorted(shuffled, key=version_key) == [
        "(other)", "1.2.0", "1.9.0", "1.9.1", "1.10.0", "2.0.0-beta", "2.0.0-rc.2",
        "2.0.0-rc.10", "2.0.0", "v2.0.1",
    ]  # fmt: skip
    assert version_key("1.9") == version_key("1.9.0")


# --- the metric on both databases ---------------------------------------------------------


@pytest.fixture
def planted(store: Store) -> Store:
    assert store.insert(planted_rows()) == 1542
    return store


def health(store: Store, **args: str) -> Any:
    f = Filters.parse({**RANGE, **args}, int(args.pop("top", "25")))
    with store.db() as db:
        return compute(db, "release-health", f)


def test_a_planted_regression_is_listed_and_a_healthy_release_is_not(planted: Store) -> None:
    table = health(planted)
    assert table.columns == VERSION_COLUMNS
    rows = table.records()
    assert [(r["version"], r["first_seen"], r["last_seen"], r["baseline"]) for r in rows] == [
        ("1.12.0", day(30), day(39), "1.11.0"),
        ("1.11.0", day(20), day(29), "1.10.0"),
        ("1.10.0", day(10), day(19), "1.9.0"),
        ("1.9.0", day(0), day(9), None),
    ]
    assert [(r["installs"], r["events"], r["failures"]) for r in rows] == [
        (25, 42, 13), (25, 500, 82), (25, 500, 25), (25, 500, 22),
    ]  # fmt: skip
    for r in rows:
        low, high = wilson(r["events"] - r["failures"], r["events"]) or (0, 0)
        assert r["success_rate"] == round(1 - r["failures"] / r["events"], 4)
        assert (r["success_low"], r["success_high"]) == (round(low, 4), round(high, 4))
        assert r["success_low"] < r["success_rate"] < r["success_high"]
    assert [r["regressions"] for r in rows] == [0, 1, 0, 0]

    regressions = table.parts["regressions"].records()
    assert len(regressions) == 1
    found = regressions[0]
    assert {k: found[k] for k in REGRESSION_COLUMNS if k != "p_value"} == {
        "command": "icon", "version": "1.11.0", "baseline": "1.10.0", "failure_rate": 0.2,
        "baseline_failure_rate": 0.055, "runs": 400, "baseline_runs": 400, "failures": 80,
        "baseline_failures": 22, "test": "z",
    }  # fmt: skip
    assert found["p_value"] == pytest.approx(z_reference(80, 400, 22, 400), rel=1e-3)
    assert found["p_value"] < 1e-8

    compared = {(c["version"], c["command"]): c for c in table.parts["commands"].records()}
    assert set(compared) == {
        (v, c) for v in ("1.10.0", "1.11.0", "1.12.0") for c in ("icon", "config")
    }
    healthy = compared[("1.10.0", "icon")]  # 5.5 % against 5 %: not significant, not flagged
    assert not healthy["regression"] and healthy["p_value"] == pytest.approx(
        z_reference(22, 400, 20, 400), rel=1e-3
    )
    few = compared[("1.12.0", "icon")]  # 12 of 12 failed: significant, but too few runs
    assert few["test"] == "fisher" and few["p_value"] < 1e-6 and not few["regression"]
    assert few["verdict"] == "too few runs" and healthy["verdict"] == "ok"
    assert few["p_value"] == pytest.approx(fisher_exact_reference(12, 12, 80, 400), rel=1e-3)
    assert not any(c["regression"] for c in compared.values() if c["command"] == "config")
    assert "p < 0.01" in (table.note or "")


def test_filters_range_and_top_apply(planted: Store) -> None:
    only = health(planted, version="1.11.0")
    assert [(r["version"], r["baseline"]) for r in only.records()] == [("1.11.0", "1.10.0")]
    assert len(only.parts["regressions"].rows) == 1
    assert {c["version"] for c in only.parts["commands"].records()} == {"1.11.0"}

    config = health(planted, command="config")
    assert [r["events"] for r in config.records()] == [30, 100, 100, 100]
    assert config.parts["regressions"].rows == []

    # A range starting after 1.9.0's last day: 1.10.0 keeps its real first day (before the
    # range) and has no previous version in the range.
    late = health(planted, **{"from": day(15)})
    assert [(r["version"], r["first_seen"], r["baseline"]) for r in late.records()] == [
        ("1.12.0", day(30), "1.11.0"), ("1.11.0", day(20), "1.10.0"), ("1.10.0", day(10), None),
    ]  # fmt: skip
    assert late.records()[2]["events"] == 250  # five of its ten days

    top = health(planted, top="2")  # 500 events each; ties by name: 1.10.0, 1.11.0
    assert [r["version"] for r in top.records()] == ["1.11.0", "1.10.0"]
    assert len(top.parts["regressions"].rows) == 1 and "only the 2 versions" in (top.note or "")

    empty = health(planted, **{"from": "2025-01-01", "to": "2025-01-31"})
    assert empty.rows == [] and empty.parts["regressions"].rows == []


def test_markers_are_release_days_inside_the_range(planted: Store) -> None:
    with planted.db() as db:
        fold_for_read(db)  # as every read does (the metrics fold through ``compute``)
        everything = releases.markers(db, Filters.parse(RANGE))
        late = releases.markers(db, Filters.parse({**RANGE, "from": day(15), "command": "x"}))
    assert everything == [{"version": v, "day": day(first)} for v, first, _ in PLAN]
    assert late == [{"version": "1.11.0", "day": day(20)}, {"version": "1.12.0", "day": day(30)}]


def test_ties_on_the_first_day_follow_version_order(store: Store) -> None:
    rows = [row(event(version=v, timestamp=ms(day(d), 9 + k)))
            for d, vs in ((0, ["1.10.0", "1.9.0"]), (3, ["2.0.0", "2.0.0-rc.1"]))
            for k, v in enumerate(vs)]  # fmt: skip
    store.insert(rows)
    chain = [(r["version"], r["baseline"]) for r in health(store).records()]
    assert chain == [("2.0.0", "2.0.0-rc.1"), ("2.0.0-rc.1", "1.10.0"), ("1.10.0", "1.9.0"),
                     ("1.9.0", None)]  # fmt: skip


def test_answers_stay_bounded_however_many_versions_and_commands(store: Store) -> None:
    store.insert([
        row(event(version=f"1.{v}.0", command=f"c{c:02d}", timestamp=ms(day(v), 9 + c % 12)))
        for v in range(8) for c in range(30)
    ])  # fmt: skip
    few = health(store, top="3")
    assert len(few.rows) == 3 and "only the 3 versions" in (few.note or "")
    assert len(few.parts["commands"].rows) == 2 * 3  # two version pairs × the top 3 commands
    many = health(store, top="40")
    assert len(many.rows) == 8
    assert len(many.parts["commands"].rows) == 7 * releases.MAX_COMMANDS  # not 7 × 30


# --- over HTTP, on both databases ---------------------------------------------------------


def _fill(url: str) -> None:
    s = open_store(url)
    s.migrate()
    s.insert(planted_rows())
    s.close()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(request: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    work = tmp_path_factory.mktemp(f"releases-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{work / 'releases.db'}"
        _fill(url)
        with running_server(database_url=url, directory=work) as srv:
            yield srv
        return
    with fresh_database("iconiq_t_rel") as url:
        _fill(url)
        with running_server(database_url=url, directory=work) as srv:
            yield srv


def get(server: ServerHandle, path: str, **params: str) -> httpx.Response:
    return httpx.get(server.base_url + path, params={**RANGE, **params},
                     headers=server.headers(), timeout=30)  # fmt: skip


def table_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_release_health_over_http_json_and_csv(server: ServerHandle) -> None:
    body = get(server, "/v1/metrics/release-health").json()
    assert body["columns"] == VERSION_COLUMNS
    assert [(r["version"], r["regressions"]) for r in body["rows"]] == [
        ("1.12.0", 0), ("1.11.0", 1), ("1.10.0", 0), ("1.9.0", 0),
    ]  # fmt: skip
    assert [(r["command"], r["version"], r["baseline"], r["failure_rate"],
             r["baseline_failure_rate"]) for r in body["regressions"]] == [
        ("icon", "1.11.0", "1.10.0", 0.2, 0.055)]  # fmt: skip
    assert body["regressions"][0]["p_value"] < 1e-8 and len(body["commands"]) == 6

    versions = get(server, "/v1/metrics/release-health.csv")
    assert versions.status_code == 200 and versions.headers["content-type"].startswith("text/csv")
    rows = table_of(versions.text)
    assert rows[0] == VERSION_COLUMNS and [r[0] for r in rows[1:]] == [v for v, _, _ in PLAN[::-1]]
    assert rows[2][:6] == ["1.11.0", day(20), day(29), "25", "500", "82"]

    for path, extra in [
        ("/v1/metrics/release-health.csv", {"part": "regressions"}),
        ("/v1/metrics/release-health", {"part": "regressions", "format": "csv"}),
    ]:
        found = table_of(get(server, path, **extra).text)
        assert found[0] == REGRESSION_COLUMNS
        assert [r[:5] for r in found[1:]] == [["icon", "1.11.0", "1.10.0", "0.2", "0.055"]]
    commands = table_of(get(server, "/v1/metrics/release-health.csv", part="commands").text)
    assert len(commands) == 7 and commands[0][:2] == ["version", "command"]
    as_json = get(server, "/v1/metrics/release-health", part="regressions").json()
    assert as_json["columns"] == REGRESSION_COLUMNS and len(as_json["rows"]) == 1

    healthy = get(server, "/v1/metrics/release-health", version="1.10.0").json()
    assert [r["version"] for r in healthy["rows"]] == ["1.10.0"] and healthy["regressions"] == []

    page = get(server, "/adoption", format="json").json()
    assert page["releases"] == [{"version": v, "day": day(first)} for v, first, _ in PLAN]
    assert [p["metric"] for p in get(server, "/releases", format="json").json()["panels"]] == [
        "release-health"
    ]


def test_bad_parameters_are_400(server: ServerHandle) -> None:
    for path, params, words in [
        ("/v1/metrics/release-health", {"part": "nope"}, "part must be one of"),
        ("/v1/metrics/release-health.csv", {"part": ""}, "part must be one of"),
        ("/v1/metrics/commands", {"part": "regressions"}, "part must be one of"),
        ("/v1/metrics/release-health", {"days": "0", "from": ""}, "days"),
        ("/v1/metrics/release-health", {"from": "2026-03-10", "to": "2026-03-01"}, "starts after"),
        ("/v1/metrics/release-health", {"version": "v" * 51}, "too long"),
        ("/v1/metrics/release-health", {"format": "xml"}, "format"),
    ]:
        r = get(server, path, **params)
        assert r.status_code == 400 and words in r.json()["error"], (path, params, r.text)
    assert get(server, "/releases", format="json", to="someday").status_code == 400


# --- the report ---------------------------------------------------------------------------


def test_report_has_a_release_health_section(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    _fill(url)
    args = [sys.executable, "-m", "iconiq.server.cli", "report", "--database", url,
            "--from", RANGE["from"], "--to", RANGE["to"]]  # fmt: skip
    done = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)["metrics"]
    assert [r["version"] for r in data["release-health"]] == ["1.12.0", "1.11.0", "1.10.0", "1.9.0"]
    assert [(r["command"], r["version"]) for r in data["release-health.regressions"]] == [
        ("icon", "1.11.0")
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60,
                          env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    section = done.stdout[done.stdout.index("Release health") :]
    assert "Regressions" in section and "20.0 %" in section and "5.5 %" in section
    lines = [line for line in section.splitlines() if "1.11.0" in line and "icon" in line]
    assert len(lines) == 1 and "1.10.0" in lines[0]
    done = subprocess.run([*args, "--command", "config"], capture_output=True, text=True,
                          timeout=60, env={"COLUMNS": "160", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "No regressions" in done.stdout and "Regressions" not in done.stdout


def test_the_benchmark_finds_the_flaky_release_of_the_data_set(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    gen = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "dataset.py"), "--database", url,
         "--events", "60000", "--end", "2026-06-30"],
        capture_output=True, text=True, timeout=300, cwd=root,
    )  # fmt: skip
    assert gen.returncode == 0, gen.stderr
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "releases.py"), url],
        capture_output=True, text=True, timeout=300, cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = [line for line in done.stdout.splitlines() if "│ icon" in line]
    assert len(found) == 1 and "1.2.2" in found[0] and "1.2.1" in found[0], done.stdout
    assert "Compute time" in done.stdout and "2 y, icon" in done.stdout


# --- the Releases page and the release markers in Chromium -------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    work = tmp_path_factory.mktemp("releases-browser")
    url = f"sqlite:///{work / 'releases.db'}"
    _fill(url)
    with running_server(database_url=url, directory=work) as srv:
        yield srv


@pytest.fixture(scope="module", params=list(SIZES))
def tab(request: Any, site: ServerHandle, browser: Any) -> Iterator[tuple[Any, str, list[str]]]:
    width, height = SIZES[request.param]
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{site.base_url}/login?token={site.admin_token}")
    yield page, request.param, problems
    context.close()


QUERY = f"from={RANGE['from']}&to={RANGE['to']}"


@pytest.mark.browser
@pytest.mark.slow
def test_the_releases_page_flags_the_regression(tab: Any, site: ServerHandle) -> None:
    page, size, problems = tab
    html = httpx.get(f"{site.base_url}/releases?{QUERY}", headers=site.headers()).text
    assert 'id="panel-release-health"' in html and " style=" not in html and "<style" not in html
    page.goto(f"{site.base_url}/releases?{QUERY}")
    page.wait_for_selector("#panel-release-health[data-drawn]")
    assert page.locator("header.top nav a.active").inner_text() == "Releases"
    alert = page.locator("#panel-release-health .rel-alert")
    assert alert.is_visible()
    text = alert.inner_text()
    assert "1 regression" in text and "icon fails 20% of 400 runs in 1.11.0" in text
    assert "5.5% of 400 in 1.10.0" in text
    assert alert.locator(".badge.regression").inner_text() == "Regression"

    rows = page.locator("#panel-release-health .rel-versions tbody tr")
    assert rows.count() == 4
    by_version = {r.locator("td").first.inner_text(): r for r in rows.all()}
    assert list(by_version) == ["1.12.0", "1.11.0", "1.10.0", "1.9.0"]
    bad = by_version["1.11.0"]
    assert "regressed" in (bad.get_attribute("class") or "")
    assert bad.locator(".badge.regression").inner_text() == "1 regression"
    assert "83.6% (80.1%–86.6%)" in bad.inner_text()  # success rate and its Wilson interval
    for healthy in ("1.10.0", "1.9.0"):
        r = by_version[healthy]
        assert r.locator(".badge").count() == 0 and "regressed" not in (
            r.get_attribute("class") or ""
        )
    cells = [r.locator("td").nth(1).inner_text() for r in by_version.values()]
    assert cells == ["watch", "1 regression", "ok", "first shown"]  # status second: on screen
    watch = by_version["1.12.0"]  # 12 of 12 icon runs failed: watched, not a regression
    assert watch.locator(".badge.regression").count() == 0 and "regressed" not in (
        watch.get_attribute("class") or ""
    )
    flagged = page.locator("#panel-release-health .rel-commands tr.regressed")
    assert flagged.count() == 1 and "icon" in flagged.inner_text()
    status = bad.locator("td").nth(1).bounding_box()
    assert status["x"] + status["width"] <= page.evaluate("window.innerWidth")

    link = page.locator("#panel-release-health .rel-exports a", has_text="regressions")
    exported = httpx.get(site.base_url + (link.get_attribute("href") or ""), headers=site.headers())
    assert table_of(exported.text)[0] == REGRESSION_COLUMNS and len(table_of(exported.text)) == 2

    width = page.evaluate("window.innerWidth")
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    box = page.locator("#panel-release-health").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"releases-{size}.png"), full_page=True)

    page.goto(f"{site.base_url}/releases?from=2025-01-01&to=2025-01-31")
    page.wait_for_selector("#panel-release-health[data-drawn]")
    assert page.locator("#panel-release-health .empty").is_visible()
    assert problems == []


# Where the release markers went, and how many dark pixels the canvas has in a column.
MARKS = """(c) => { const ch = Chart.getChart(c);
  return (ch.$releases || []).map((m) => [m.version, m.index, m.x]); }"""
# The free band above the plot where the version labels go (below the legend, if shown).
ROOM = """(c) => { const ch = Chart.getChart(c), l = ch.legend;
  return ch.chartArea.top - (l && l.options.display ? l.bottom : 0); }"""
DARK = """([sel, x]) => { const c = document.querySelector(sel), ch = Chart.getChart(c);
  const a = ch.chartArea, r = window.devicePixelRatio;
  const d = c.getContext('2d').getImageData(Math.round(x * r), Math.round(a.top * r), 1,
    Math.round((a.bottom - a.top) * r)).data;
  let n = 0; for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] > 200 && d[i] < 90 && d[i + 1] < 90 && d[i + 2] < 110) n++; }
  return n; }"""


@pytest.mark.browser
@pytest.mark.slow
def test_release_dates_are_marked_on_every_time_chart(tab: Any, site: ServerHandle) -> None:
    page, size, problems = tab
    checked = []
    for path in ("/", "/adoption", "/usage", "/performance", "/growth"):
        panels = httpx.get(f"{site.base_url}{path}?{QUERY}&format=json",
                           headers=site.headers()).json()["panels"]  # fmt: skip
        timed = [p for p in panels if p["columns"][0] in ("day", "week") and p["rows"]]
        page.goto(f"{site.base_url}{path}?{QUERY}")
        page.wait_for_selector(".panel[data-drawn]")
        for p in timed:
            canvas = page.locator(f"#panel-{p['metric']} canvas")
            if canvas.count() == 0:
                continue
            canvas.scroll_into_view_if_needed()
            marks = canvas.evaluate(MARKS)
            weekly = p["columns"][0] == "week"
            expected = [(v, first // 7 if weekly else first) for v, first, _ in PLAN]
            assert [(v, i) for v, i, _ in marks] == expected, (size, p["metric"], marks)
            assert canvas.evaluate(ROOM) >= 15, (size, p["metric"])  # labels hide nothing
            # A drawn dashed line: dark pixels down the marker's column, few halfway between.
            xs = [x for _, _, x in marks]
            sel = f"#panel-{p['metric']} canvas"
            dark = page.evaluate(DARK, [sel, xs[1]])
            between = page.evaluate(DARK, [sel, (xs[1] + xs[2]) / 2 + 1.5])
            assert dark >= 20 and between < dark / 4, (size, p["metric"], dark, between)
            checked.append(p["metric"])
    assert {"daily-active", "success-rate", "weekly-active", "new-installs", "versions",
            "prompt-length"} <= set(checked)  # fmt: skip
    assert problems == []
