"""Release health: how each CLI version is doing, and which one made a command fail more.

Per version (the ``Filters.top`` versions with the most events in the range):

- ``first_seen`` / ``last_seen``: the first and last day with a stored event of that
  version, any command, up to ``to`` (a release's date: it may lie before the range);
- ``installs`` (distinct installs with an event of that version in the range),
  ``events``, ``failures`` and ``success_rate`` with its 95 % Wilson score interval
  (``success_low`` … ``success_high``);
- ``baseline``: the previous version, the one first seen before it among those shown (on a
  tie, the lower in semantic-version order: ``1.9.0`` < ``1.10.0`` < ``2.0.0-rc.1`` < ``2.0.0``).

Per version and command (the ``Filters.top`` commands with the most events in the range, at
most ``MAX_COMMANDS``), the failure rate against the baseline's in the same range, with a
one-sided test of "fails more often than the baseline": Fisher's exact test when the
smallest expected cell of the 2×2 table is below 5, else the two-proportion z-test (pooled
variance). A comparison is a
**regression** when both versions ran the command at least ``MIN_RUNS`` times in the range,
the failure rate rose by at least ``MIN_DIFFERENCE`` and ``p < ALPHA`` (its ``verdict``;
``too few runs`` when only the run count is short, ``ok`` otherwise). P-values are not
adjusted for the number of comparisons; the minimum runs and difference keep chance flags
rare.

The answer's rows are the versions (newest release first); its parts ``regressions`` and
``commands`` (every comparison) ride along in the JSON and as CSV with ``?part=``.
Only rollups are read: ``an_active`` (days per version), ``an_daily`` (events and failures)
and ``an_install_days`` (distinct installs).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any

from iconiq.server.analytics.db import Db
from iconiq.server.analytics.query import Filters, Table
from iconiq.server.analytics.rollups import an_install_spans
from iconiq.server.analytics.top import among, ranked
from iconiq.server.calendar import date_of

ALPHA = 0.01
MIN_RUNS = 20
MIN_DIFFERENCE = 0.02
Z95 = 1.959963984540054  # the 97.5th percentile of the standard normal
FISHER_BELOW = 5.0  # smallest expected cell count under which the exact test is used
MAX_COMMANDS = 25  # commands compared per version, whatever ICONIQ_TOP_VALUES says (N × 25 rows)
RULE = (
    f"regression: a command's failure rate at least {MIN_DIFFERENCE * 100:g} percentage points"
    f" above the previous version's, p < {ALPHA:g} (one-sided), at least {MIN_RUNS} runs of it"
    " on each version"
)

VERSION_COLUMNS = [
    "version", "first_seen", "last_seen", "installs", "events", "failures",
    "success_rate", "success_low", "success_high", "baseline", "regressions",
]  # fmt: skip
COMMAND_COLUMNS = [
    "version", "command", "runs", "failures", "failure_rate", "baseline", "baseline_runs",
    "baseline_failures", "baseline_failure_rate", "difference", "p_value", "test", "verdict",
    "regression",
]  # fmt: skip
REGRESSION_COLUMNS = [
    "command", "version", "baseline", "failure_rate", "baseline_failure_rate", "runs",
    "baseline_runs", "failures", "baseline_failures", "p_value", "test",
]  # fmt: skip


# --- statistics (standard library only) ------------------------------------------------


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (None without trials)."""
    if n <= 0:
        return None
    p = successes / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _lchoose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_greater(x: int, n: int, x0: int, n0: int) -> float:
    """One-sided Fisher exact p-value that ``x`` of ``n`` is a higher proportion than ``x0``
    of ``n0``: P(X ≥ x) for X hypergeometric (``n + n0`` runs, ``x + x0`` failures, ``n``
    drawn). Sums the tail away from the mode, where terms only shrink, so it stops early."""
    total, k = n + n0, x + x0
    lo, hi = max(0, k - n0), min(k, n)
    base = _lchoose(total, n)

    def pmf(i: int) -> float:
        return math.exp(_lchoose(k, i) + _lchoose(total - k, n - i) - base)

    mode = (n + 1) * (k + 1) // (total + 2)
    if x > mode:  # upper tail, decreasing
        acc = 0.0
        for i in range(x, hi + 1):
            term = pmf(i)
            acc += term
            if term <= acc * 1e-17:
                break
        return min(1.0, acc)
    below = 0.0  # P(X ≤ x - 1): the lower tail, decreasing downwards
    for i in range(x - 1, lo - 1, -1):
        term = pmf(i)
        below += term
        if term <= below * 1e-17:
            break
    return min(1.0, max(0.0, 1.0 - below))


def z_greater(x: int, n: int, x0: int, n0: int) -> float:
    """One-sided two-proportion z-test (pooled) that ``x/n`` is above ``x0/n0``."""
    pooled = (x + x0) / (n + n0)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / n0))
    if se == 0:
        return 1.0
    z = (x / n - x0 / n0) / se
    return 0.5 * math.erfc(z / math.sqrt(2))


def worse_p(x: int, n: int, x0: int, n0: int) -> tuple[float, str]:
    """(p-value, test name) that failures ``x`` of ``n`` runs are more frequent than ``x0`` of
    ``n0``: Fisher's exact test when the smallest expected cell is below 5, else the z-test."""
    if n <= 0 or n0 <= 0:
        return 1.0, "none"
    total, k = n + n0, x + x0
    smallest = min(n, n0) * min(k, total - k) / total
    if smallest < FISHER_BELOW:
        return fisher_greater(x, n, x0, n0), "fisher"
    return z_greater(x, n, x0, n0), "z"


# --- version order -----------------------------------------------------------------------

_SEMVER = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+.*)?$")


def version_key(version: str) -> tuple[Any, ...]:
    """Sort key in semantic-version order (as ``format.js`` ``compareVersions``): a release
    after its pre-releases, numeric identifiers numerically; anything that is not a version
    sorts before every version, by text."""
    m = _SEMVER.match(version)
    if not m:
        return (0, version)
    core = tuple(int(g or 0) for g in m.group(1, 2, 3))
    pre = m.group(4)
    if not pre:
        return (1, core, 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (1, core, 0, parts)


# --- the metric --------------------------------------------------------------------------


@dataclass
class _Version:
    name: str
    first: int
    last: int
    installs: int = 0
    events: int = 0
    failures: int = 0
    baseline: str | None = None


def _p(value: float) -> float:
    """A p-value to four significant digits (tiny ones stay tiny, not 0.0)."""
    return float(f"{value:.4g}")


def _rate(failures: int, runs: int) -> float | None:
    return round(failures / runs, 4) if runs else None


def _versions(db: Db, f: Filters) -> tuple[list[_Version], bool]:
    """The versions shown (oldest release first) with their numbers, and whether more
    versions had events in the range."""
    # Ranked without the version filter: a filtered version still needs its predecessor.
    scope = replace(f, version=None)
    where, params = scope.where()
    top, more = ranked(
        db,
        f"SELECT version FROM an_daily WHERE dim = 'total' AND {where}"
        " GROUP BY version ORDER BY sum(events) DESC, version",
        params,
        f.top,
    )
    keys = [str(v) for (v,) in top]
    if f.version is not None and f.version not in keys:
        keys.append(f.version)
    if not keys:
        return [], False
    cond, kp = among("version", keys)
    seen = db.fetch(
        "SELECT version, min(start), max(start) FROM an_active WHERE period = 'v'"
        f" AND start <= ? AND {cond} GROUP BY version",
        [f.end, *kp],
    )
    found = {str(v): _Version(str(v), int(a), int(b)) for v, a, b in seen}
    counts = db.fetch(
        "SELECT version, sum(events), sum(failures) FROM an_daily"
        f" WHERE dim = 'total' AND {where} AND {cond} GROUP BY version",
        [*params, *kp],
    )
    for v, events, failures in counts:
        if str(v) in found:
            found[str(v)].events, found[str(v)].failures = int(events or 0), int(failures or 0)
    if f.breakdown:
        # A breakdown filter: ``db`` reads the matching events' install-days (``scope``),
        # which the spans, kept for every event, do not know.
        installs = db.fetch(
            "SELECT version, count(DISTINCT install_id) FROM an_install_days"
            f" WHERE {where} AND {cond} GROUP BY version",
            [*params, *kp],
        )
    else:
        # From the (install, version, command) spans: only those crossing an end of the
        # range are looked up by day.
        installs = db.fetch(
            *an_install_spans.installs_by_version(f.start, f.end, f.command, keys)
        )
    for v, n in installs:
        if str(v) in found:
            found[str(v)].installs = int(n)
    # A version with no event in the range (only a filtered one can be so) is not shown.
    ordered = sorted(
        (v for v in found.values() if v.events), key=lambda v: (v.first, version_key(v.name))
    )
    for before, after in zip(ordered, ordered[1:], strict=False):
        after.baseline = before.name
    return ordered, more


def _comparisons(db: Db, f: Filters, versions: list[_Version]) -> list[list[Any]]:
    """Per version and top command: its failure rate against the baseline's, and the test."""
    where, params = replace(f, version=None).where()
    commands, _ = ranked(
        db,
        f"SELECT command FROM an_daily WHERE dim = 'total' AND {where}"
        " GROUP BY command ORDER BY sum(events) DESC, command",
        params,
        min(f.top, MAX_COMMANDS),
    )
    if not commands or not versions:
        return []
    vcond, vp = among("version", [v.name for v in versions])
    ccond, cp = among("command", [str(c) for (c,) in commands])
    counts = {
        (str(v), str(c)): (int(n or 0), int(x or 0))
        for v, c, n, x in db.fetch(
            "SELECT version, command, sum(events), sum(failures) FROM an_daily"
            f" WHERE dim = 'total' AND {where} AND {vcond} AND {ccond} GROUP BY version, command",
            [*params, *vp, *cp],
        )
    }
    out = []
    for v in reversed(versions):  # newest release first
        if v.baseline is None or (f.version is not None and v.name != f.version):
            continue
        for (c,) in commands:
            n, x = counts.get((v.name, str(c)), (0, 0))
            n0, x0 = counts.get((v.baseline, str(c)), (0, 0))
            if not n or not n0:
                continue
            p, test = worse_p(x, n, x0, n0)
            diff = x / n - x0 / n0
            worse = diff >= MIN_DIFFERENCE and p < ALPHA
            flagged = worse and n >= MIN_RUNS and n0 >= MIN_RUNS
            verdict = "regression" if flagged else "too few runs" if worse else "ok"
            out.append([v.name, str(c), n, x, _rate(x, n), v.baseline, n0, x0, _rate(x0, n0),
                        round(diff, 4), _p(p), test, verdict, flagged])  # fmt: skip
    return out


def release_health(db: Db, f: Filters) -> Table:
    """Per version: first/last seen, installs, events, success rate with its 95 % interval and
    the previous version; parts ``regressions`` and ``commands`` (see the module doc)."""
    versions, more = _versions(db, f)
    compared = _comparisons(db, f, versions)
    flagged = [c for c in compared if c[-1]]
    per_version: dict[str, int] = {}
    for c in flagged:
        per_version[c[0]] = per_version.get(c[0], 0) + 1
    rows = []
    for v in reversed(versions):
        if f.version is not None and v.name != f.version:
            continue
        ok = v.events - v.failures
        interval = wilson(ok, v.events)
        low, high = interval if interval else (None, None)
        rows.append([
            v.name, date_of(v.first), date_of(v.last), v.installs, v.events, v.failures,
            round(ok / v.events, 4), _round(low), _round(high), v.baseline,
            per_version.get(v.name, 0),
        ])  # fmt: skip
    by_name = dict(zip(COMMAND_COLUMNS, range(len(COMMAND_COLUMNS)), strict=True))
    regressions = [[c[by_name[k]] for k in REGRESSION_COLUMNS] for c in flagged]
    notes = [RULE]
    if more:
        notes.append(f"only the {f.top} versions with the most events are shown")
    return Table(
        VERSION_COLUMNS,
        rows,
        note="; ".join(notes),
        parts={
            "regressions": Table(REGRESSION_COLUMNS, regressions),
            "commands": Table(COMMAND_COLUMNS, compared),
        },
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def markers(db: Db, f: Filters) -> list[dict[str, str]]:
    """Release dates to mark on the time charts: the ``f.top`` versions with the most events
    in the range whose first stored event falls inside it (filters do not apply: a release
    date is the version's), oldest first."""
    top, _ = ranked(
        db,
        "SELECT version FROM an_daily WHERE dim = 'total' AND day BETWEEN ? AND ?"
        " GROUP BY version ORDER BY sum(events) DESC, version",
        [f.start, f.end],
        f.top,
    )
    if not top:
        return []
    cond, kp = among("version", [str(v) for (v,) in top])
    rows = db.fetch(
        "SELECT version, min(start) FROM an_active WHERE period = 'v' AND start <= ?"
        f" AND {cond} GROUP BY version",
        [f.end, *kp],
    )
    inside = [(int(d), str(v)) for v, d in rows if f.start <= int(d) <= f.end]
    inside.sort(key=lambda r: (r[0], version_key(r[1])))
    return [{"version": v, "day": date_of(d)} for d, v in inside]
