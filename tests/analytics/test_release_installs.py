"""Release health's installs per version, read from ``an_install_spans``, equal a distinct
count of the stored events themselves, for ranges that hold a span's end, ranges strictly
inside a span with and without activity, every command filter and a version filter, on
both databases, also after an erasure and retention."""

from __future__ import annotations

import random
import uuid
from typing import Any

from iconiq.server.analytics.metrics import compute
from iconiq.server.analytics.query import Filters
from iconiq.server.calendar import date_of, day_of
from iconiq.server.storage.base import Store
from tests.analytics.seed import DAY_MS, event, install, ms, row

START = ms("2026-01-05", 0)
DAYS = 90
VERSIONS = ["1.0.0", "1.1.0", "1.2.0"]
COMMANDS = ["icon", "config", "telemetry"]


def gappy_events(rng: random.Random) -> list[dict[str, Any]]:
    """Installs active in a few bursts weeks apart, so many ranges fall strictly inside a
    span without an event of it; install 0 runs 1.0.0 only on days 10 and 80 (``icon``) and
    day 45 (``config``)."""
    out = [
        event(install_id=install(0), version="1.0.0", command=c, timestamp=START + d * DAY_MS)
        for d, c in ((10, "icon"), (45, "config"), (80, "icon"))
    ]
    for k in range(1, 30):
        for _ in range(rng.randrange(1, 4)):  # bursts
            burst = START + rng.randrange(DAYS - 3) * DAY_MS
            for _ in range(rng.randrange(1, 6)):
                out.append(
                    event(
                        event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        install_id=install(k),
                        version=rng.choice(VERSIONS),
                        command=rng.choice(COMMANDS),
                        timestamp=burst + rng.randrange(3 * DAY_MS),
                    )
                )
    return out


def expected(
    events: list[dict[str, Any]], start: int, end: int, command: str | None, version: str | None
) -> dict[str, int]:
    """Distinct installs per version of the events in days ``start``..``end``, counted here."""
    pairs = {
        (e["version"], e["install_id"])
        for e in events
        if start <= day_of(e["timestamp"]) <= end
        and command in (None, e["command"])
        and version in (None, e["version"])
    }
    out: dict[str, int] = {}
    for v, _ in pairs:
        out[v] = out.get(v, 0) + 1
    return out


def answered(store: Store, start: int, end: int, **args: str) -> dict[str, int]:
    f = Filters.parse({"from": date_of(start), "to": date_of(end), **args}, 25)
    with store.db() as db:
        table = compute(db, "release-health", f)
    at = table.columns.index("installs")
    return {str(r[0]): int(r[at]) for r in table.rows}


def ranges() -> list[tuple[int, int]]:
    first = day_of(START)
    out = [(first + a, first + b) for a in range(0, DAYS, 7) for b in (a, a + 2, a + 13, a + 40)]
    # Strictly inside install 0's span (days 10..80): without its events, then holding one.
    out += [(first + 11, first + 44), (first + 46, first + 79), (first + 20, first + 60)]
    return [(s, min(e, first + DAYS + 5)) for s, e in out] + [(first - 30, first + 400)]


def check_all(store: Store, events: list[dict[str, Any]]) -> int:
    """Compare every range under every filter; return how many non-empty answers matched."""
    checked = 0
    for s, e in ranges():
        for command in (None, *COMMANDS):
            args = {"command": command} if command else {}
            want = expected(events, s, e, command, None)
            assert answered(store, s, e, **args) == want, (date_of(s), date_of(e), command)
            checked += bool(want)
        want = expected(events, s, e, "icon", "1.1.0")
        assert answered(store, s, e, command="icon", version="1.1.0") == want
    return checked


def test_installs_per_version_equal_a_distinct_count_of_the_events(store: Store) -> None:
    rng = random.Random(5)
    events = gappy_events(rng)
    assert store.insert([row(e) for e in events]) == len(events)
    first = day_of(START)
    # Install 0 counts for 1.0.0 in 11..79 (its config day) but not in 11..44 nor 46..79.
    inside = [e for e in events if e["install_id"] == install(0)]
    assert expected(inside, first + 11, first + 44, None, None) == {}
    assert expected(inside, first + 20, first + 60, None, None) == {"1.0.0": 1}
    assert check_all(store, events) > 100

    gone = install(3)
    assert store.erase_install(gone) > 0
    events = [e for e in events if e["install_id"] != gone]
    check_all(store, events)

    cut = START + 30 * DAY_MS
    store.purge_expired(cut)
    events = [e for e in events if e["timestamp"] >= cut]
    assert check_all(store, events) > 50
