"""Every metric against hand-computed answers on the small seeded data set, on both databases.

Today is frozen at 2026-03-15 12:00 UTC; the range is the last 14 days (03-02 … 03-15).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from freezegun import freeze_time

from iconiq.errors import InvalidInput
from iconiq.server.analytics import pseudonym
from iconiq.server.analytics.metrics import METRICS, compute
from iconiq.server.analytics.query import Filters
from iconiq.server.storage.base import Store
from tests.analytics.seed import event, install, ms, row, seeded_rows

NOW = "2026-03-15 12:00:00"


@pytest.fixture
def seeded(store: Store) -> Iterator[Store]:
    assert store.insert(seeded_rows()) == 7
    with freeze_time(NOW):
        yield store


def rows(store: Store, name: str, f: Filters | None = None) -> list[list[Any]]:
    with store.db() as db:
        return compute(db, name, f or Filters.last(14)).rows


def alias(store: Store, n: int) -> str:
    """The pseudonym analytics show for ``install(n)``: keyed, never the id itself."""
    with store.db() as db:
        secret = pseudonym.key(db)
    shown = pseudonym.pseudonym(secret, install(n))
    assert shown.startswith("i-") and len(shown) == 18 and install(n) not in shown
    return shown


def nonzero(table: list[list[Any]]) -> dict[Any, Any]:
    return {r[0]: r[1] for r in table if r[1]}


def test_adoption(seeded: Store) -> None:
    assert nonzero(rows(seeded, "daily-active")) == {
        "2026-03-02": 1, "2026-03-09": 1, "2026-03-10": 2, "2026-03-14": 1,
    }  # fmt: skip
    assert len(rows(seeded, "daily-active")) == 14
    assert rows(seeded, "weekly-active") == [["2026-03-02", 1, False], ["2026-03-09", 3, False]]
    assert nonzero(rows(seeded, "new-installs")) == {
        "2026-03-02": 1, "2026-03-09": 1, "2026-03-14": 1,
    }  # fmt: skip
    assert rows(seeded, "versions") == [
        ["2026-03-02", "1.0.0", 1], ["2026-03-09", "1.0.0", 1],
        ["2026-03-10", "1.1.0", 2], ["2026-03-14", "1.1.0", 1],
    ]  # fmt: skip
    assert rows(seeded, "countries") == [
        ["DE", 3, 0.5], ["US", 2, 0.3333], ["unknown", 1, 0.1667],
    ]  # fmt: skip
    # The 30-day range reaches D's event on 02-20.
    assert nonzero(rows(seeded, "new-installs", Filters.last(30)))["2026-02-20"] == 1


def test_usage(seeded: Store) -> None:
    assert rows(seeded, "commands") == [
        ["icon", 5, 0.8333, 2, 0.4], ["config", 1, 0.1667, 0, 0.0],
    ]  # fmt: skip
    assert rows(seeded, "flags") == [
        ["--prompt", 4, 0.6667], ["--model", 2, 0.3333],
        ["--size", 1, 0.1667], ["--telemetry", 1, 0.1667],
    ]  # fmt: skip
    assert rows(seeded, "output-formats") == [
        ["png", 3, 0.5], ["ico", 1, 0.1667], ["webp", 1, 0.1667], ["(none)", 1, 0.1667],
    ]  # fmt: skip
    assert rows(seeded, "models") == [
        ["dall-e-3", 3, 0.5], ["gpt-image-1", 1, 0.1667], ["local", 1, 0.1667],
        ["(none)", 1, 0.1667],
    ]  # fmt: skip
    assert rows(seeded, "ci-share") == [["interactive", 4, 0.6667], ["ci", 2, 0.3333]]
    prompt = {r[0]: r[1] for r in rows(seeded, "prompt-length") if r[1] is not None}
    assert prompt == {
        "2026-03-02": 20.0,
        "2026-03-09": 50.0,
        "2026-03-10": 100.0,
        "2026-03-14": 30.0,
    }
    summary = dict(map(tuple, rows(seeded, "summary")))  # type: ignore[arg-type]
    assert summary["average_prompt_length"] == 50.0  # (40 + 60 + 100 + 20 + 30) / 5
    peak = {(w, h): n for w, h, n in rows(seeded, "peak-hours") if n}
    assert peak == {
        ("Mon", 9): 1,
        ("Mon", 10): 1,
        ("Mon", 11): 1,
        ("Tue", 10): 1,
        ("Tue", 14): 1,
        ("Sat", 23): 1,
    }
    assert len(rows(seeded, "peak-hours")) == 7 * 24


def test_performance(seeded: Store) -> None:
    assert {r[0]: r[1:] for r in rows(seeded, "success-rate") if r[1]} == {
        "2026-03-02": [1, 1, 0.0], "2026-03-09": [2, 1, 0.5],
        "2026-03-10": [2, 0, 1.0], "2026-03-14": [1, 0, 1.0],
    }  # fmt: skip
    assert rows(seeded, "errors") == [
        ["network", 1, 0.5, 0.1667], ["timeout", 1, 0.5, 0.1667],
    ]  # fmt: skip
    exec_rows = {r[0]: r[1:] for r in rows(seeded, "execution-time")}
    # all: 5, 1000, 1000, 2000, 3000, 4000 → nearest-rank p50 = 1000, p95 = p99 = 4000
    assert exec_rows["all"][0] == 6
    assert exec_rows["all"][1] == pytest.approx(1000, rel=0.045)
    assert exec_rows["all"][2] == pytest.approx(4000, rel=0.045)
    assert exec_rows["all"][3] == pytest.approx(4000, rel=0.045)
    assert exec_rows["icon"][1] == pytest.approx(2000, rel=0.045)  # 1000 1000 2000 3000 4000
    assert exec_rows["config"] == [1, 5.0, 5.0, 5.0]  # small values are exact
    api = {r[0]: r[1:] for r in rows(seeded, "api-time")}
    assert api["all"][0] == 3
    assert api["all"][1] == pytest.approx(900, rel=0.045)  # 800 900 2500
    assert api["all"][2] == pytest.approx(2500, rel=0.045)


def test_growth(seeded: Store) -> None:
    assert rows(seeded, "cohorts") == [
        ["2026-03-02", 1, 0, 1, 1.0], ["2026-03-02", 1, 1, 1, 1.0],
        ["2026-03-09", 2, 0, 2, 1.0],
    ]  # fmt: skip
    # install, commands, active days, active weeks, commands per week, first seen, last seen,
    # OS and CI (on the last day): 3 commands over a 14-day (two-week) range are 1.5 a week.
    assert rows(seeded, "heavy-installs") == [
        [alias(seeded, 0), 3, 2, 1, 1.5, "2026-03-09", "2026-03-10", "linux", False],
        [alias(seeded, 1), 2, 2, 2, 1.0, "2026-03-02", "2026-03-10", "linux", True],
        [alias(seeded, 2), 1, 1, 1, 0.5, "2026-03-14", "2026-03-14", "linux", False],
    ]
    # network and timeout fail icon once each: a tie goes to the first name.
    assert rows(seeded, "feature-gaps") == [["icon", 5, 2, 0.4, "network"]]


def test_filters(seeded: Store) -> None:
    v11 = Filters.last(14, version="1.1.0")
    assert nonzero(rows(seeded, "daily-active", v11)) == {"2026-03-10": 2, "2026-03-14": 1}
    assert rows(seeded, "commands", v11) == [
        ["icon", 2, 0.6667, 0, 0.0], ["config", 1, 0.3333, 0, 0.0],
    ]  # fmt: skip
    icon = Filters.last(14, command="icon")
    assert rows(seeded, "weekly-active", icon) == [
        ["2026-03-02", 1, False],
        ["2026-03-09", 3, False],
    ]
    assert nonzero(rows(seeded, "new-installs", icon)) == {
        "2026-03-02": 1, "2026-03-09": 1, "2026-03-14": 1,
    }  # fmt: skip
    config = Filters.last(14, command="config")
    assert nonzero(rows(seeded, "new-installs", config)) == {}  # A's first day had icon too…
    assert nonzero(rows(seeded, "daily-active", config)) == {"2026-03-10": 1}
    assert [r[:2] for r in rows(seeded, "heavy-installs", config)] == [[alias(seeded, 0), 1]]
    both = Filters.last(14, version="1.0.0", command="icon")
    assert nonzero(rows(seeded, "daily-active", both)) == {"2026-03-02": 1, "2026-03-09": 1}
    assert rows(seeded, "errors", both) == [
        ["network", 1, 0.5, 0.3333], ["timeout", 1, 0.5, 0.3333],
    ]  # fmt: skip


def test_live_and_recent(seeded: Store) -> None:
    recent = [row(event(timestamp=ms("2026-03-15", 11, 58), command="icon"), "FR")]
    assert seeded.insert(recent) == 1
    live = rows(seeded, "live")
    assert len(live) == 15 and live[-1][0] == "12:00"
    assert {r[0]: r[1] for r in live if r[1]} == {"11:58": 1}
    latest = rows(seeded, "recent")
    assert latest == [["2026-03-15 11:58:00", "icon", "1.0.0", True, None, 1000, "FR"]]


def test_empty_database_answers_every_metric(store: Store) -> None:
    with freeze_time(NOW):
        for name in METRICS:
            assert isinstance(rows(store, name), list)
        assert nonzero(rows(store, "daily-active")) == {}


def test_top_values_then_other(seeded: Store) -> None:
    """Per-value answers keep the top ``f.top`` values and fold the rest into ``(other)``,
    which holds exactly what the rest counted."""
    two = Filters.last(14, top=2)
    assert rows(seeded, "flags", two) == [
        ["--prompt", 4, 0.6667], ["--model", 2, 0.3333], ["(other)", 2, 0.3333],
    ]  # fmt: skip
    one = Filters.last(14, top=1)
    assert rows(seeded, "commands", one) == [
        ["icon", 5, 0.8333, 2, 0.4], ["(other)", 1, 0.1667, 0, 0.0],
    ]  # fmt: skip
    assert rows(seeded, "countries", one) == [["DE", 3, 0.5], ["(other)", 3, 0.5]]
    assert rows(seeded, "models", one) == [
        ["dall-e-3", 3, 0.5], ["(other)", 2, 0.3333], ["(none)", 1, 0.1667],
    ]  # fmt: skip
    # 1.1.0 has 3 install-days in the range, 1.0.0 has 2: 1.0.0 becomes (other).
    assert rows(seeded, "versions", one) == [
        ["2026-03-02", "(other)", 1], ["2026-03-09", "(other)", 1],
        ["2026-03-10", "1.1.0", 2], ["2026-03-14", "1.1.0", 1],
    ]  # fmt: skip
    # icon only: two install-days each; a tie goes to the first name.
    assert rows(seeded, "versions", Filters.last(14, command="icon", top=1)) == [
        ["2026-03-02", "1.0.0", 1], ["2026-03-09", "1.0.0", 1],
        ["2026-03-10", "(other)", 1], ["2026-03-14", "(other)", 1],
    ]  # fmt: skip
    latency = {r[0]: r[1:] for r in rows(seeded, "execution-time", one)}
    assert list(latency) == ["all", "icon", "(other)"]
    assert latency["(other)"] == [1, 5.0, 5.0, 5.0]  # config's one 5 ms run
    assert len(rows(seeded, "heavy-installs", one)) == 1
    assert len(rows(seeded, "feature-gaps", one)) == 1


def day(date: str) -> int:
    return Filters.parse({"from": date, "to": date}).start


def test_headlines_count_inside_the_range(seeded: Store) -> None:
    """ "Active installs, last 7 days" is the 7 days ending at ``to`` (not the Monday week
    holding it), and heavy installs count the range's own days (not whole weeks)."""

    def headline(f: Filters) -> int:
        return dict(rows(seeded, "summary", f))["active_installs_last_7_days"]  # type: ignore[no-any-return]

    assert headline(Filters.last(14)) == 3  # A, B, C in 03-09 … 03-15
    # A Wednesday: 03-05 … 03-11 holds A and B; C (Saturday 03-14) comes after ``to``.
    assert headline(Filters(day("2026-03-02"), day("2026-03-11"))) == 2
    # No event from Monday 02-16 to Wednesday 02-18 (D's Friday 02-20 is outside): 0.
    assert headline(Filters(day("2026-02-16"), day("2026-02-18"))) == 0
    # Shorter than 7 days: the range itself. With filters: only matching events.
    assert headline(Filters(day("2026-03-10"), day("2026-03-10"))) == 2
    assert headline(Filters.last(14, command="config")) == 1
    assert headline(Filters.last(14, version="1.0.0")) == 1  # A on 03-09
    # One day (Monday 03-09): A ran 2 commands that day, 14 a week at that rate.
    monday = Filters(day("2026-03-09"), day("2026-03-09"))
    assert rows(seeded, "heavy-installs", monday) == [
        [alias(seeded, 0), 2, 1, 1, 14.0, "2026-03-09", "2026-03-09", "linux", False],
    ]
    # A week from Wednesday to Tuesday: B's Monday 03-02 is outside, its Tuesday inside.
    week = Filters(day("2026-03-04"), day("2026-03-10"))
    assert [r[:5] + r[6:7] for r in rows(seeded, "heavy-installs", week)] == [
        [alias(seeded, 0), 3, 2, 1, 3.0, "2026-03-10"],
        [alias(seeded, 1), 1, 1, 1, 1.0, "2026-03-10"],
    ]
    weekly = rows(seeded, "weekly-active", week)
    assert weekly == [["2026-03-02", 1, True], ["2026-03-09", 3, True]]


def test_commands_per_month(seeded: Store) -> None:
    buckets = ["1", "2-5", "6-20", "21-50", "51-100", "101-500", "501+"]
    with seeded.db() as db:
        table = compute(db, "commands-per-month", Filters.last(14))
    assert table.columns == [
        "month", "days", "partial", "installs", *buckets, "threshold", "above_threshold",
        "above_threshold_share",
    ]  # fmt: skip
    # March, cut to 03-02 … 03-15: A ran 3, B 2, C 1 command.
    assert table.rows == [["2026-03", 14, True, 3, 1, 2, 0, 0, 0, 0, 0, 100, 0, 0.0]]
    two = Filters.last(14, threshold=2)
    assert rows(seeded, "commands-per-month", two)[0][-3:] == [2, 1, 0.3333]  # A only
    zero = Filters(day("2026-02-01"), day("2026-03-31"), threshold=0)
    assert rows(seeded, "commands-per-month", zero) == [
        ["2026-02", 28, False, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1.0],  # D, once
        ["2026-03", 31, False, 3, 1, 2, 0, 0, 0, 0, 0, 0, 3, 1.0],
    ]
    config = Filters.last(14, command="config")  # A's one config command
    assert rows(seeded, "commands-per-month", config)[0][3:11] == [1, 1, 0, 0, 0, 0, 0, 0]


def test_threshold_is_parsed_and_checked() -> None:
    assert Filters.parse({}).threshold == 100
    f = Filters.parse({"threshold": "250", "days": "7"})
    assert f.threshold == 250 and "threshold=250" in f.query_string()
    assert "threshold" not in Filters.parse({}).query_string()
    for bad in ("-1", "1.5", "ten", "1000001", "²", "9" * 40):
        with pytest.raises(InvalidInput, match="threshold"):
            Filters.parse({"threshold": bad})
