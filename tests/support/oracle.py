"""The definitions of docs/analytics.md in plain Python over the stored events: what
tests/analytics/test_oracle.py compares every metric with (nothing here reads the
server's code or its rollups)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from tests.support.oracle_data import (
    BUCKET_ERROR,
    DAY,
    EPOCH,
    HOUR,
    NONE,
    OTHER,
    WEEKDAYS,
    date_of,
    day_of_date,
    monday,
    share,
    weekday,
)

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
