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
import hashlib
import hmac
import math
import random
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.pg import fresh_database
from tests.support.server import ServerHandle, running_server

DAY = 86_400_000
HOUR = 3_600_000
EPOCH = dt.date(1970, 1, 1)
SPAN = 95  # days of data, ending today
OTHER = "(other)"
NONE = "(none)"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
BUCKET_ERROR = 0.046  # docs/analytics.md, "Percentile precision": within about 4.5 %

# Public addresses and the country the server's offline database gives them; the test
# server trusts 127.0.0.1 as its proxy, so X-Forwarded-For is believed.
ADDRESSES = {
    "8.8.8.8": "US", "81.2.69.160": "GB", "5.9.0.1": "DE", "1.1.1.1": "AU",
    "133.11.0.1": "JP", "200.160.2.3": "BR", "49.44.0.1": "IN", "80.67.169.12": "FR",
    "203.0.113.5": None,  # documentation range: no country
}  # fmt: skip
# (version, days after the first day it is released, failure rate of `icon`)
RELEASES = (("1.0.0", 0, 0.04), ("1.1.0", 25, 0.08), ("1.2.0", 50, 0.35),
            ("1.2.1", 62, 0.06), ("1.3.0", 80, 0.12))  # fmt: skip
COMMANDS = (("icon", 70), ("config", 10), ("telemetry status", 8), ("telemetry flush", 7),
            ("telemetry export", 5))  # fmt: skip
ERRORS = ("network", "timeout", "rate_limit", "content_policy", "auth", "api_error", None)
FORMATS = ("png", "png", "webp", "ico", "icns", "jpeg")
MODELS = ("dall-e-3", "gpt-image-1", "dall-e-2", "local")
INVOKERS = ("terminal", "terminal", "terminal", "make", "npm", "script", None)
INVOKERS_CI = ("make", "npm", "gradle", "script", "other", None)
FLAGS = ("--model", "--size", "--format", "--out", "--quality", "--style")


def date_of(day: int) -> str:
    return (EPOCH + dt.timedelta(days=day)).isoformat()


def day_of_date(date: dt.date) -> int:
    return (date - EPOCH).days


def weekday(day: int) -> int:
    """Monday 0 … Sunday 6."""
    return (EPOCH + dt.timedelta(days=day)).weekday()


def monday(day: int) -> int:
    return day - weekday(day)


def share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole else 0.0


# ---------------------------------------------------------------------------------------
# The data set


@dataclass
class DataSet:
    today: int
    now_ms: int
    # events to send, in batches: (X-Forwarded-For or None, events)
    batches: list[tuple[str | None, list[dict[str, Any]]]] = field(default_factory=list)
    late: list[tuple[str | None, list[dict[str, Any]]]] = field(default_factory=list)
    stored: list[dict[str, Any]] = field(default_factory=list)  # unique events + "country"


def build(seed: int = 13) -> DataSet:
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000)
    today = now_ms // DAY
    first = today - SPAN + 1
    data = DataSet(today, now_ms)
    # Events of the last two hours are only the planned ones (so "recent" has no boundary).
    quiet_from = now_ms - 2 * HOUR

    def release_on(day: int, lag: int) -> tuple[str, float]:
        out = RELEASES[0]
        for r in RELEASES:
            if first + r[1] + lag <= day:
                out = r
        return out[0], out[2]

    def make(install: str, ts: int, profile: dict[str, Any], command: str | None = None,
             version: str | None = None) -> dict[str, Any]:  # fmt: skip
        ver, rate = release_on(ts // DAY, profile["lag"])
        # Some installs move (a laptop replaced, a CI job added) or mix two set-ups a day.
        alt = ts // DAY >= profile.get("moves", today + 1) or rng.random() < profile.get("mix", 0)
        os_name, in_ci = profile["alt"] if alt else (profile["os"], profile["ci"])
        ver = version or ver
        cmd = command or rng.choices([c for c, _ in COMMANDS], [w for _, w in COMMANDS])[0]
        fail_rate = rate if cmd == "icon" else 0.03
        success = rng.random() >= fail_rate
        icon = cmd == "icon"
        execution = None if rng.random() < 0.05 else int(rng.lognormvariate(7 if icon else 2, 1.2))
        if execution is not None and rng.random() < 0.03:
            execution = rng.choice([0, 1, 5, 11])
        return {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "session_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "install_id": install,
            "schema": 1,
            "command": cmd,
            "success": success,
            "timestamp": ts,
            "version": ver,
            "execution_time": execution,
            "error_type": None if success else rng.choice(ERRORS),
            "prompt_length": rng.randint(5, 300) if icon and rng.random() > 0.1 else None,
            "output_format": rng.choice(FORMATS) if icon else None,
            "model_used": rng.choice(MODELS) if icon else None,
            "api_time": int(rng.lognormvariate(6.5, 1)) if icon and success and execution else None,
            "flags": rng.sample(FLAGS, rng.randint(0, 3)) if icon else [],
            "os": os_name,
            "python": "3.12",
            "ci": in_ci,
            # The contract's integration fields (a server that does not know them ignores
            # them): a CI service for runs in CI, the tool that started the command.
            "ci_provider": profile["provider"] if in_ci else None,
            "invoked_by": rng.choice(INVOKERS_CI if in_ci else INVOKERS),
        }  # fmt: skip

    def at(day: int) -> int:
        ts = day * DAY + rng.randint(0, DAY - 1)
        return ts if day < today or ts < quiet_from else -1

    events: list[tuple[str | None, dict[str, Any]]] = []
    profiles: dict[str, dict[str, Any]] = {}
    for n in range(130):  # installs
        install = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        kind = rng.choices(["trial", "casual", "regular", "heavy", "ci"], [30, 30, 20, 12, 8])[0]
        profile: dict[str, Any] = {
            "ci": True if kind == "ci" else (None if n % 17 == 0 else False),
            "os": "linux" if kind == "ci" else rng.choice(["linux", "darwin", "windows", None]),
            "lag": rng.randint(0, 12),
            "address": rng.choice([*ADDRESSES, None, None]),
            "alt": (rng.choice(["linux", "darwin", "windows"]), rng.random() < 0.5),
            "provider": rng.choice(["github-actions", "gitlab-ci", "circleci", "jenkins"]),
        }
        if n % 5 == 1:
            profile["moves"] = first + rng.randint(0, SPAN - 1)
        elif n % 5 == 2:
            profile["mix"] = rng.choice([0.3, 0.5])
        profiles[install] = profile
        start = first + rng.randint(0, SPAN - 1)
        life = {"trial": 3, "casual": 60, "regular": 90, "heavy": 95, "ci": 95}[kind]
        p = {"trial": 0.7, "casual": 0.1, "regular": 0.3, "heavy": 0.7, "ci": 0.95}[kind]
        per_day = {"trial": 3, "casual": 3, "regular": 6, "heavy": 14, "ci": 40}[kind]
        for day in range(start, min(today, start + life) + 1):
            if day != start and rng.random() > p:
                continue
            for _ in range(rng.randint(1, per_day)):
                ts = at(day)
                if ts >= 0:
                    events.append((profile["address"], make(install, ts, profile)))
    ids = list(profiles)
    # Boundaries: 00:00:00.000 and 23:59:59.999 UTC of Sundays, Mondays and month ends.
    for day in range(first, today):
        date = EPOCH + dt.timedelta(days=day)
        edge = weekday(day) in (0, 6) or (date + dt.timedelta(days=1)).day == 1 or date.day == 1
        if edge:
            for ts in (day * DAY, day * DAY + DAY - 1):
                install = rng.choice(ids)
                events.append((profiles[install]["address"], make(install, ts, profiles[install])))
    # The last minutes (live, recent), and one event dated late tonight (a clock ahead).
    for k in range(1, 9):
        install = rng.choice(ids)
        ts = now_ms - k * 61_000 - 7_000
        events.append((profiles[install]["address"], make(install, ts, profiles[install])))
    install = rng.choice(ids)
    events.append((None, make(install, today * DAY + DAY - 1, profiles[install])))
    # Late uploads: old events of existing installs (some before their first day) and of an
    # install nobody saw before, sent after everything else was folded.
    late: list[tuple[str | None, dict[str, Any]]] = []
    for install in rng.sample(ids, 12):
        for _ in range(rng.randint(1, 4)):
            ts = (first + rng.randint(0, 20)) * DAY + rng.randint(0, DAY - 1)
            late.append((profiles[install]["address"], make(install, ts, profiles[install])))
    newcomer = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    profiles[newcomer] = {"ci": False, "os": "darwin", "lag": 0, "address": "81.2.69.160",
                          "provider": "other"}  # fmt: skip
    for d in (first + 3, first + 3, first + 10):
        late.append(("81.2.69.160", make(newcomer, d * DAY + 1000 * rng.randint(0, 86_399),
                                         profiles[newcomer], command="config")))  # fmt: skip

    data.stored = [{**e, "country": ADDRESSES.get(a) if a else None} for a, e in [*events, *late]]
    data.batches = _batches(rng, events)
    data.late = _batches(rng, late)
    return data


def _batches(
    rng: random.Random, events: list[tuple[str | None, dict[str, Any]]]
) -> list[tuple[str | None, list[dict[str, Any]]]]:
    """Batches of at most 400 events sharing an address, in a shuffled order."""
    by_address: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for address, e in events:
        by_address[address].append(e)
    out = []
    for address, group in by_address.items():
        rng.shuffle(group)
        out += [(address, group[i : i + 400]) for i in range(0, len(group), 400)]
    rng.shuffle(out)
    return out


def upload(server: ServerHandle, batches: Iterable[tuple[str | None, list[dict[str, Any]]]],
           rng: random.Random) -> tuple[int, int]:  # fmt: skip
    """Send the batches (each one also again later: duplicates; some with one event twice);
    (accepted, duplicates) as the server answered."""
    accepted = duplicates = 0
    sent: list[tuple[str | None, list[dict[str, Any]]]] = []
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        for address, events in batches:
            body = list(events)
            if rng.random() < 0.3:
                body.append(dict(rng.choice(events)))  # the same event twice in one batch
            headers = {"X-Forwarded-For": address} if address else {}
            r = client.post("/v1/batch", json={"events": body}, headers=headers)
            assert r.status_code == 200, r.text
            answer = r.json()
            assert answer["rejected"] == [], answer["rejected"][:3]
            accepted += answer["accepted"]
            duplicates += answer["duplicates"]
            sent.append((address, body))
        for address, body in rng.sample(sent, max(1, len(sent) // 3)):
            headers = {"X-Forwarded-For": address} if address else {}
            r = client.post("/v1/batch", json={"events": body}, headers=headers)
            assert r.status_code == 200, r.text
            accepted += r.json()["accepted"]
            duplicates += r.json()["duplicates"]
    return accepted, duplicates


# ---------------------------------------------------------------------------------------
# The definitions (docs/analytics.md), in plain Python over the stored events


@dataclass(frozen=True)
class Case:
    name: str
    start: int
    end: int
    version: str | None = None
    command: str | None = None
    threshold: int = 100

    def params(self) -> dict[str, str]:
        out = {"from": date_of(self.start), "to": date_of(self.end)}
        if self.version:
            out["version"] = self.version
        if self.command:
            out["command"] = self.command
        if self.threshold != 100:
            out["threshold"] = str(self.threshold)
        return out

    @property
    def filtered(self) -> bool:
        return self.version is not None or self.command is not None

    def days(self) -> range:
        return range(self.start, self.end + 1)


class Oracle:
    def __init__(self, stored: list[dict[str, Any]], top: int, key: bytes) -> None:
        self.all = stored
        self.top = top
        self.key = key
        self.first_day: dict[str, int] = {}
        self.by_install: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.selected: dict[Case, list[dict[str, Any]]] = {}
        for e in stored:
            self.by_install[e["install_id"]].append(e)
            d = e["timestamp"] // DAY
            i = e["install_id"]
            self.first_day[i] = min(d, self.first_day.get(i, d))

    # -- helpers
    def matches(self, e: dict[str, Any], c: Case, in_range: bool = True) -> bool:
        d = e["timestamp"] // DAY
        return (
            (not in_range or c.start <= d <= c.end)
            and (c.version is None or e["version"] == c.version)
            and (c.command is None or e["command"] == c.command)
        )

    def sel(self, c: Case) -> list[dict[str, Any]]:
        if c not in self.selected:
            self.selected[c] = [e for e in self.all if self.matches(e, c)]
        return self.selected[c]

    def pseudonym(self, install: str) -> str:
        return "i-" + hmac.new(self.key, install.encode(), hashlib.sha256).hexdigest()[:16]

    def ranked(self, counts: dict[Any, int]) -> tuple[list[tuple[Any, int]], bool]:
        order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return order[: self.top], len(order) > self.top

    def breakdown(
        self, c: Case, value: Callable[[dict[str, Any]], Any], single: bool = True
    ) -> list[list[Any]]:
        s = self.sel(c)
        counts = Counter(v for e in s if (v := value(e)) is not None)
        head, more = self.ranked(counts)
        rows = [[v, n] for v, n in head]
        if more:
            rows.append([OTHER, sum(counts.values()) - sum(n for _, n in head)])
        missing = len(s) - sum(counts.values())
        if single and missing:  # the events without a value: (none), so shares sum to 1
            rows.append([NONE, missing])
        return [[v, n, share(n, len(s))] for v, n in rows]

    # -- adoption
    def daily_active(self, c: Case) -> list[list[Any]]:
        per = defaultdict(set)
        for e in self.sel(c):
            per[e["timestamp"] // DAY].add(e["install_id"])
        return [[date_of(d), len(per[d])] for d in c.days()]

    def weekly_active(self, c: Case) -> list[list[Any]]:
        per = defaultdict(set)
        for e in self.all:
            if self.matches(e, c, in_range=False):
                per[monday(e["timestamp"] // DAY)].add(e["install_id"])
        out = []
        for w in range(monday(c.start), c.end + 1, 7):
            out.append([date_of(w), len(per[w]), w < c.start or w + 6 > c.end])
        return out

    def new_installs(self, c: Case) -> list[list[Any]]:
        out = []
        for d in c.days():
            n = 0
            for i, first in self.first_day.items():
                if first != d:
                    continue
                if not c.filtered or any(
                    e["timestamp"] // DAY == d and self.matches(e, c) for e in self.by_install[i]
                ):
                    n += 1
            out.append([date_of(d), n])
        return out

    def versions(self, c: Case) -> list[list[Any]]:
        per: dict[tuple[int, str], set[str]] = defaultdict(set)
        for e in self.sel(c):
            per[(e["timestamp"] // DAY, e["version"])].add(e["install_id"])
        totals: Counter[str] = Counter()
        for (_, v), ids in per.items():
            totals[v] += len(ids)
        head, more = self.ranked(dict(totals))
        keys = sorted(v for v, _ in head)
        rows: list[list[Any]] = [[d, v, len(ids)] for (d, v), ids in per.items() if v in keys]
        if more:
            other: Counter[int] = Counter()
            for (d, v), ids in per.items():
                if v not in keys:
                    other[d] += len(ids)
            rows += [[d, OTHER, n] for d, n in other.items()]
        rows.sort(key=lambda r: (r[0], keys.index(r[1]) if r[1] in keys else len(keys)))
        return [[date_of(d), v, n] for d, v, n in rows]

    def countries(self, c: Case) -> list[list[Any]]:
        rows = self.breakdown(c, lambda e: e["country"] or "")
        return [[v or "unknown", n, s] for v, n, s in rows]

    # -- usage
    def commands(self, c: Case) -> list[list[Any]]:
        s = self.sel(c)
        events = Counter(e["command"] for e in s)
        failures = Counter(e["command"] for e in s if not e["success"])
        head, more = self.ranked(dict(events))
        rows = [[k, n, failures[k]] for k, n in head]
        if more:
            rows.append([OTHER, len(s) - sum(r[1] for r in rows),
                         sum(failures.values()) - sum(r[2] for r in rows)])  # fmt: skip
        return [[k, n, share(n, len(s)), x, share(x, n)] for k, n, x in rows]

    def flags(self, c: Case) -> list[list[Any]]:
        s = self.sel(c)
        counts = Counter(f for e in s for f in set(e["flags"]))
        head, more = self.ranked(dict(counts))
        rows = [[k, n] for k, n in head]
        if more:
            rows.append([OTHER, sum(counts.values()) - sum(n for _, n in head)])
        return [[k, n, share(n, len(s))] for k, n in rows]

    def ci_kind(self, e: dict[str, Any]) -> str:
        return {True: "ci", False: "interactive", None: "unknown"}[e["ci"]]

    def prompt_length(self, c: Case) -> list[list[Any]]:
        out = []
        for d in c.days():
            lengths = [
                e["prompt_length"]
                for e in self.sel(c)
                if e["timestamp"] // DAY == d and e["prompt_length"] is not None
            ]
            average = round(sum(lengths) / len(lengths), 1) if lengths else None
            out.append([date_of(d), average, len(lengths)])
        return out

    def average_prompt_length(self, c: Case) -> float | None:
        lengths = [e["prompt_length"] for e in self.sel(c) if e["prompt_length"] is not None]
        return round(sum(lengths) / len(lengths), 1) if lengths else None

    def peak_hours(self, c: Case) -> list[list[Any]]:
        grid = Counter(
            (weekday(e["timestamp"] // DAY), e["timestamp"] // HOUR % 24) for e in self.sel(c)
        )
        return [[WEEKDAYS[w], h, grid[(w, h)]] for w in range(7) for h in range(24)]

    # -- performance
    def success_rate(self, c: Case) -> list[list[Any]]:
        out = []
        s = self.sel(c)
        for d in c.days():
            day = [e for e in s if e["timestamp"] // DAY == d]
            n, x = len(day), sum(1 for e in day if not e["success"])
            out.append([date_of(d), n, x, share(n - x, n) if n else None])
        return out

    def errors(self, c: Case) -> list[list[Any]]:
        s = self.sel(c)
        failures = [e for e in s if not e["success"]]
        counts = Counter(e["error_type"] for e in failures if e["error_type"] is not None)
        order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        missing = len(failures) - sum(counts.values())
        if missing:  # failures without an error type
            order.append((NONE, missing))
        return [[k, n, share(n, len(failures)), share(n, len(s))] for k, n in order]

    def latency(self, c: Case, column: str, ps: tuple[float, ...]) -> list[list[Any]]:
        """Rows of (command, measured, percentiles…), "all" first; named commands by count."""
        per: dict[str, list[int]] = defaultdict(list)
        for e in self.sel(c):
            if e[column] is not None:
                per[e["command"]].append(e[column])
        head, more = self.ranked({k: len(v) for k, v in per.items()})
        keys = [k for k, _ in head]
        groups: list[tuple[str, list[int]]] = [("all", [v for vs in per.values() for v in vs])]
        groups += [(k, per[k]) for k in keys]
        if more:
            groups.append((OTHER, [v for k, vs in per.items() if k not in keys for v in vs]))
        return [[k, len(vs), *(nearest_rank(vs, p) for p in ps)] for k, vs in groups if vs]

    def latency_over_time(self, c: Case, today: int) -> list[list[Any]]:
        weekly = c.end - c.start + 1 > 92
        keys = range(monday(c.start), c.end + 1, 7) if weekly else c.days()
        out = []
        for k in keys:
            first, last = (k, k + 6) if weekly else (k, k)
            inside = [e for e in self.all if self.matches(e, c)
                      and first <= e["timestamp"] // DAY <= last]  # fmt: skip
            ex = [e["execution_time"] for e in inside if e["execution_time"] is not None]
            api = [e["api_time"] for e in inside if e["api_time"] is not None]
            out.append(
                [date_of(first), len(ex)]
                + [nearest_rank(ex, p) if ex else None for p in (0.5, 0.9, 0.99)]
                + [nearest_rank(api, p) if api else None for p in (0.5, 0.9, 0.99)]
                + [last >= today or first < c.start or last > c.end]
            )
        return out

    # -- growth
    def cohorts(self, c: Case) -> list[list[Any]]:
        last = monday(c.end)
        first = max(monday(c.start), last - 25 * 7)
        weeks = defaultdict(set)
        for e in self.all:
            weeks[e["install_id"]].add(monday(e["timestamp"] // DAY))
        out = []
        for cohort in range(first, last + 1, 7):
            members = [i for i, d in self.first_day.items() if monday(d) == cohort]
            for k in range((last - cohort) // 7 + 1):
                n = sum(1 for i in members if cohort + 7 * k in weeks[i])
                out.append([date_of(cohort), len(members), k, n, share(n, len(members))])
        return out

    def heavy_installs(self, c: Case) -> list[list[Any]]:
        s = self.sel(c)
        per: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for e in s:
            per[e["install_id"]].append(e)
        head, _ = self.ranked({i: len(es) for i, es in per.items()})
        out = []
        for i, n in head:
            days = {e["timestamp"] // DAY for e in per[i]}
            last = [e for e in per[i] if e["timestamp"] // DAY == max(days)]
            oses = Counter(e["os"] for e in last if e["os"] is not None)
            os_name = sorted(oses.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] if oses else None
            in_ci = 2 * sum(1 for e in last if e["ci"] is True) > len(last)
            out.append([
                self.pseudonym(i), n, len(days), len({monday(d) for d in days}),
                round(n / ((c.end - c.start + 1) / 7), 1),
                date_of(self.first_day[i]), date_of(max(days)), os_name, in_ci,
            ])  # fmt: skip
        return out

    def commands_per_month(self, c: Case) -> list[list[Any]]:
        bounds = ((1, 1), (2, 5), (6, 20), (21, 50), (51, 100), (101, 500), (501, math.inf))
        out = []
        day = c.start
        while day <= c.end:
            date = EPOCH + dt.timedelta(days=day)
            month_first = day_of_date(date.replace(day=1))
            nxt = (date.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
            last = min(c.end, day_of_date(nxt) - 1)
            partial = day != month_first or last != day_of_date(nxt) - 1
            per = Counter(
                e["install_id"] for e in self.sel(c) if day <= e["timestamp"] // DAY <= last
            )
            counts = [sum(1 for n in per.values() if lo <= n <= hi) for lo, hi in bounds]
            above = sum(1 for n in per.values() if n > c.threshold)
            out.append([date.strftime("%Y-%m"), last - day + 1, partial, len(per), *counts,
                        c.threshold, above, share(above, len(per))])  # fmt: skip
            day = last + 1
        return out

    def feature_gaps(self, c: Case) -> list[list[Any]]:
        s = self.sel(c)
        events = Counter(e["command"] for e in s)
        failures = Counter(e["command"] for e in s if not e["success"])
        keep = [k for k in events if events[k] >= 5 and failures[k] > 0]
        keep.sort(key=lambda k: (-Fraction(failures[k], events[k]), k))
        rows = []
        for k in keep[: self.top]:
            errs = Counter(
                e["error_type"]
                for e in s
                if e["command"] == k and not e["success"] and e["error_type"]
            )
            top_error = sorted(errs.items(), key=lambda kv: (-kv[1], kv[0]))[0][0] if errs else None
            rows.append([k, events[k], failures[k], share(failures[k], events[k]), top_error])
        rows.sort(key=lambda r: (-r[3], r[0]))
        return rows

    def summary(self, c: Case) -> list[list[Any]]:
        s = self.sel(c)
        failures = sum(1 for e in s if not e["success"])
        last7 = {e["install_id"] for e in s if e["timestamp"] // DAY >= max(c.start, c.end - 6)}
        daily = self.daily_active(c)
        top = self.commands(c)
        execution = self.latency(c, "execution_time", (0.5,))
        return [
            ["events", len(s)],
            ["active_installs_last_7_days", len(last7)],
            ["daily_active_installs_last_day", daily[-1][1]],
            ["average_daily_active_installs", round(sum(r[1] for r in daily) / len(daily), 1)],
            ["new_installs", sum(r[1] for r in self.new_installs(c))],
            ["success_rate", share(len(s) - failures, len(s)) if s else None],
            ["top_command", top[0][0] if top else None],
            ["execution_time_p50_ms", execution[0][2] if execution else None],
            ["average_prompt_length", self.average_prompt_length(c)],
        ]

    # -- live: the window is the minute the request was answered in
    def live(self, c: Case, now_ms: int) -> list[list[Any]]:
        first = now_ms // 60_000 - 14
        shown = [
            e
            for e in self.all
            if self.matches(e, c, in_range=False) and e["timestamp"] <= now_ms + 60_000
        ]
        counts = Counter(e["timestamp"] // 60_000 for e in shown)
        fails = Counter(e["timestamp"] // 60_000 for e in shown if not e["success"])
        return [[time.strftime("%H:%M", time.gmtime(m * 60)), counts[m], fails[m]]
                for m in range(first, first + 15)]  # fmt: skip

    def recent(self, c: Case, now_ms: int) -> list[list[Any]]:
        s = [e for e in self.all
             if self.matches(e, c, in_range=False) and e["timestamp"] >= now_ms - HOUR]  # fmt: skip
        s.sort(key=lambda e: -e["timestamp"])
        return [[time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(e["timestamp"] / 1000)),
                 e["command"], e["version"], e["success"], e["error_type"], e["execution_time"],
                 e["country"] or ""] for e in s[:15]]  # fmt: skip


# -- release health (docs/analytics.md, "Release health")

RELEASE_COMMANDS = 25  # commands compared per version at most
COMMAND_PART = ["version", "command", "runs", "failures", "failure_rate", "baseline",
                "baseline_runs", "baseline_failures", "baseline_failure_rate", "difference",
                "p_value", "test", "verdict", "regression"]  # fmt: skip
REGRESSION_PART = ["command", "version", "baseline", "failure_rate", "baseline_failure_rate",
                   "runs", "baseline_runs", "failures", "baseline_failures", "p_value",
                   "test"]  # fmt: skip


def wilson_interval(ok: int, n: int) -> tuple[float, float]:
    """The 95 % Wilson score interval (z = 1.96, no continuity correction)."""
    z = 1.959963984540054
    p = ok / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def worse(x: int, n: int, x0: int, n0: int) -> tuple[float, str]:
    """One-sided p that x/n fails more than x0/n0: Fisher's exact test (an exact sum over the
    hypergeometric tail) when the 2x2 table's smallest expected count is below 5, else the
    pooled two-proportion z-test."""
    total, k = n + n0, x + x0
    expected = min(a * b / total for a in (n, n0) for b in (k, total - k))
    if expected < 5:
        tail = sum(math.comb(k, i) * math.comb(total - k, n - i) for i in range(x, min(k, n) + 1))
        return float(Fraction(tail, math.comb(total, n))), "fisher"
    pooled = k / total
    se = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / n0))
    if se == 0:
        return 1.0, "z"
    return 0.5 * math.erfc((x / n - x0 / n0) / se / math.sqrt(2)), "z"


def release_health(o: Oracle, c: Case) -> dict[str, list[list[Any]]]:
    s = o.sel(replace(c, version=None))
    events = Counter(e["version"] for e in s)
    fails = Counter(e["version"] for e in s if not e["success"])
    head, _ = o.ranked(dict(events))
    names = [v for v, _ in head]
    if c.version is not None and c.version not in names:
        names.append(c.version)
    seen: dict[str, list[int]] = {}
    for e in o.all:
        d = e["timestamp"] // DAY
        if e["version"] in names and d <= c.end:
            lo_hi = seen.setdefault(e["version"], [d, d])
            lo_hi[0], lo_hi[1] = min(lo_hi[0], d), max(lo_hi[1], d)
    shown = sorted((v for v in names if events[v] and v in seen),
                   key=lambda v: (seen[v][0], tuple(int(p) for p in v.split("."))))  # fmt: skip
    baseline = {after: before for before, after in zip(shown, shown[1:], strict=False)}
    per = Counter((e["version"], e["command"]) for e in s)
    per_fail = Counter((e["version"], e["command"]) for e in s if not e["success"])
    top_commands, _ = o.ranked(dict(Counter(e["command"] for e in s)))
    commands = [k for k, _ in top_commands][:RELEASE_COMMANDS]
    compared = []
    for v in reversed(shown):
        if v not in baseline or (c.version is not None and v != c.version):
            continue
        b = baseline[v]
        for k in commands:
            n, x, n0, x0 = per[(v, k)], per_fail[(v, k)], per[(b, k)], per_fail[(b, k)]
            if not n or not n0:
                continue
            p, test = worse(x, n, x0, n0)
            diff = x / n - x0 / n0
            bad = diff >= 0.02 and p < 0.01
            flagged = bad and n >= 20 and n0 >= 20
            verdict = "regression" if flagged else "too few runs" if bad else "ok"
            compared.append([v, k, n, x, share(x, n), b, n0, x0, share(x0, n0), round(diff, 4),
                             p, test, verdict, flagged])  # fmt: skip
    flagged_per = Counter(r[0] for r in compared if r[-1])
    rows = []
    for v in reversed(shown):
        if c.version is not None and v != c.version:
            continue
        installs = {e["install_id"] for e in s if e["version"] == v}
        ok = events[v] - fails[v]
        low, high = wilson_interval(ok, events[v])
        rows.append([v, date_of(seen[v][0]), date_of(seen[v][1]), len(installs), events[v],
                     fails[v], round(ok / events[v], 4), round(low, 4), round(high, 4),
                     baseline.get(v), flagged_per[v]])  # fmt: skip
    at = {k: i for i, k in enumerate(COMMAND_PART)}
    regressions = [[r[at[k]] for k in REGRESSION_PART] for r in compared if r[-1]]
    return {"rows": rows, "regressions": regressions, "commands": compared}


def compare_release(body: dict[str, Any], want: dict[str, list[list[Any]]]) -> str | None:
    """Equal, but p-values (and the interval's last digit) within rounding of another sum."""

    def same(a: Any, b: Any) -> bool:
        if isinstance(a, float) and isinstance(b, float):
            return math.isclose(a, b, rel_tol=1e-3, abs_tol=1.5e-4)
        return bool(a == b)

    got = {
        "rows": [[r[col] for col in body["columns"]] for r in body["rows"]],
        "regressions": [[r[k] for k in REGRESSION_PART] for r in body.get("regressions", [])],
        "commands": [[r[k] for k in COMMAND_PART] for r in body.get("commands", [])],
    }
    for part, rows in want.items():
        if len(got[part]) != len(rows) or not all(
            len(g) == len(w) and all(same(a, b) for a, b in zip(g, w, strict=True))
            for g, w in zip(got[part], rows, strict=True)
        ):
            return f"{part}: {got[part][:4]} != {rows[:4]}"
    return None


def nearest_rank(values: list[int], p: float) -> float:
    ordered = sorted(values)
    return float(ordered[max(1, math.ceil(p * len(ordered))) - 1])


# Each metric's definition here: (oracle method, how to compare).
EXACT, LATENCY, TIMED, RELEASE = "exact", "latency", "timed", "release"
OVER_TIME = "over time"
DEFINITIONS: dict[str, tuple[Callable[[Oracle, Case], Any], str]] = {
    "release-health": (release_health, RELEASE),
    "summary": (Oracle.summary, "summary"),
    "daily-active": (Oracle.daily_active, EXACT),
    "weekly-active": (Oracle.weekly_active, EXACT),
    "new-installs": (Oracle.new_installs, EXACT),
    "versions": (Oracle.versions, EXACT),
    "countries": (Oracle.countries, EXACT),
    "commands": (Oracle.commands, EXACT),
    "flags": (Oracle.flags, EXACT),
    "output-formats": (lambda o, c: o.breakdown(c, lambda e: e["output_format"]), EXACT),
    "models": (lambda o, c: o.breakdown(c, lambda e: e["model_used"]), EXACT),
    "prompt-length": (Oracle.prompt_length, EXACT),
    "peak-hours": (Oracle.peak_hours, EXACT),
    "ci-share": (lambda o, c: o.breakdown(c, o.ci_kind), EXACT),
    "operating-systems": (lambda o, c: o.breakdown(c, lambda e: e["os"]), EXACT),
    "ci-providers": (lambda o, c: o.breakdown(c, lambda e: e["ci_provider"]), EXACT),
    "invoked-by": (lambda o, c: o.breakdown(c, lambda e: e["invoked_by"]), EXACT),
    "success-rate": (Oracle.success_rate, EXACT),
    "errors": (Oracle.errors, EXACT),
    "execution-time": (lambda o, c: o.latency(c, "execution_time", (0.5, 0.95, 0.99)), LATENCY),
    "latency-over-time": (
        lambda o, c: o.latency_over_time(c, int(time.time() * 1000) // DAY),
        OVER_TIME,
    ),
    "api-time": (lambda o, c: o.latency(c, "api_time", (0.5, 0.95)), LATENCY),
    "cohorts": (Oracle.cohorts, EXACT),
    "heavy-installs": (Oracle.heavy_installs, EXACT),
    "commands-per-month": (Oracle.commands_per_month, EXACT),
    "feature-gaps": (Oracle.feature_gaps, EXACT),
    "live": (lambda o, c: [], TIMED),
    "recent": (lambda o, c: [], TIMED),
}


def close(got: Any, want: Any) -> bool:
    """A percentile shown from its bucket: within the documented error of the true value."""
    if want is None or got is None:
        return got is want
    return bool(abs(got - want) <= BUCKET_ERROR * want + 0.06)


def compare(kind: str, got: list[list[Any]], want: list[list[Any]]) -> str | None:
    """None when ``got`` is right, else what is wrong."""
    if kind == EXACT:
        if got == want:
            return None
        diff = [(i, g, w) for i, (g, w) in enumerate(zip(got, want, strict=False)) if g != w]
        return f"{len(got)} rows, expected {len(want)}; first differences {diff[:3]}"
    if kind == "summary":
        g: dict[str, Any] = {k: v for k, v in got}
        w: dict[str, Any] = {k: v for k, v in want}
        if list(g) != list(w):
            return f"keys {list(g)} != {list(w)}"
        bad = {k: (g[k], w[k]) for k in w if k != "execution_time_p50_ms" and g[k] != w[k]}
        if not close(g["execution_time_p50_ms"], w["execution_time_p50_ms"]):
            bad["execution_time_p50_ms"] = (g["execution_time_p50_ms"], w["execution_time_p50_ms"])
        return f"{bad}" if bad else None
    if kind == OVER_TIME:
        if len(got) != len(want):
            return f"{len(got)} rows, expected {len(want)}"
        for g, w in zip(got, want, strict=True):
            if (
                g[:2] != w[:2]
                or g[-1] != w[-1]
                or not all(close(a, b) for a, b in zip(g[2:-1], w[2:-1], strict=True))
            ):
                return f"{g} != {w}"
        return None
    assert kind == LATENCY
    # Named commands with equal counts may come in either order: compare them by name.
    names = [r[0] for r in got]
    if sorted(names) != sorted(r[0] for r in want) or names[:1] != [r[0] for r in want][:1]:
        return f"rows {[r[:2] for r in got]} != {[r[:2] for r in want]}"
    if OTHER in names and names[-1] != OTHER:
        return f"(other) is not last: {names}"
    named = [r[1] for r in got if r[0] not in ("all", OTHER)]
    if named != sorted(named, reverse=True):
        return f"named commands not by count: {named}"
    by_name = {r[0]: r for r in want}
    for r in got:
        exp = by_name[r[0]]
        if r[1] != exp[1] or not all(close(a, b) for a, b in zip(r[2:], exp[2:], strict=True)):
            return f"{r} != {exp}"
    return None


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
