"""Every metric by name: the registry the API, the dashboard and the report share.

``compute(db, name, filters)`` answers one metric as a ``Table``.
Each metric has a title, a dashboard section and a chart kind (how the
dashboard draws it; ``table`` means no chart).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from iconiq.server.analytics import adoption, growth, performance, releases, usage
from iconiq.server.analytics.db import Db
from iconiq.server.analytics.query import Filters, Table, share
from iconiq.server.analytics.rollups.folding import READ_FOLD_LIMIT, fold_for_read
from iconiq.server.analytics.scope import scoped

Compute = Callable[[Db, Filters], Table]


@dataclass(frozen=True)
class Metric:
    name: str
    title: str
    section: str
    chart: str  # line, lines, bar, hbar, doughnut, stacked, heatmap, cohort, releases, table
    compute: Compute
    y: str = ""  # the column a chart plots (default: the second one)


# The summary's rows: key (JSON, CSV) -> label (dashboard card, ``report``).
SUMMARY_LABELS: dict[str, str] = {
    "events": "Events",
    "active_installs_last_7_days": "Active installs, last 7 days",
    "daily_active_installs_last_day": "Daily active installs (last day)",
    "average_daily_active_installs": "Average daily active installs",
    "new_installs": "New installs",
    "success_rate": "Success rate",
    "top_command": "Top command",
    "execution_time_p50_ms": "Median execution time (ms)",
    "average_prompt_length": "Average prompt length",
}


def summary(db: Db, f: Filters) -> Table:
    """The headline numbers of the range (``docs/analytics.md`` defines each)."""
    events, failures = usage.total_events(db, f)
    daily = adoption.daily_active(db, f).rows
    new = sum(int(r[1]) for r in adoption.new_installs(db, f).rows)
    top = usage.commands(db, f).rows
    exec_p50 = performance.execution_time(db, f).rows
    values = {
        "events": events,
        "active_installs_last_7_days": adoption.active_last_7_days(db, f),
        "daily_active_installs_last_day": daily[-1][1] if daily else 0,
        "average_daily_active_installs": round(sum(r[1] for r in daily) / len(daily), 1),
        "new_installs": new,
        "success_rate": share(events - failures, events) if events else None,
        "top_command": top[0][0] if top else None,
        "execution_time_p50_ms": exec_p50[0][2] if exec_p50 else None,
        "average_prompt_length": usage.average_prompt_length(db, f),
    }
    return Table(["metric", "value"], [[k, values[k]] for k in SUMMARY_LABELS])


def ci_providers(db: Db, f: Filters) -> Table:
    """Events per CI service (``ci_provider``; runs outside CI are not in this breakdown)."""
    return usage.breakdown(db, f, "ci_provider", "ci_provider")


def invoked_by(db: Db, f: Filters) -> Table:
    """Events per thing that started the command (``invoked_by``: terminal, make, npm, ...)."""
    return usage.breakdown(db, f, "invoked_by", "invoked_by")


_ALL = [
    Metric("summary", "Headline numbers", "overview", "table", summary),
    Metric("daily-active", "Daily active installs", "adoption", "line", adoption.daily_active),
    Metric("weekly-active", "Weekly active installs", "adoption", "bar", adoption.weekly_active),
    Metric("new-installs", "New installs per day", "adoption", "bar", adoption.new_installs),
    Metric("versions", "Version adoption (active installs)", "adoption", "stacked",
           adoption.versions),
    Metric("countries", "Countries", "adoption", "hbar", adoption.countries),
    Metric("commands", "Command frequency", "usage", "hbar", usage.commands),
    Metric("flags", "Flag usage", "usage", "hbar", usage.flags),
    Metric("output-formats", "Output formats", "usage", "doughnut", usage.output_formats),
    Metric("models", "Models", "usage", "doughnut", usage.models),
    Metric("prompt-length", "Average prompt length", "usage", "line", usage.prompt_length),
    Metric("peak-hours", "Peak usage by weekday and hour (UTC)", "usage", "heatmap",
           usage.peak_hours),
    Metric("ci-share", "CI vs interactive", "usage", "doughnut", usage.ci_share),
    Metric("operating-systems", "Operating systems", "usage", "doughnut",
           usage.operating_systems),
    Metric("ci-providers", "CI services", "usage", "doughnut", ci_providers),
    Metric("invoked-by", "Invoked by (terminal, build tools)", "usage", "doughnut", invoked_by),
    Metric("success-rate", "Success rate per day", "performance", "line",
           performance.success_rate, y="success_rate"),
    Metric("errors", "Errors by type", "performance", "hbar", performance.errors),
    Metric("execution-time", "Execution time (ms)", "performance", "table",
           performance.execution_time),
    Metric("api-time", "Image API time (ms)", "performance", "table", performance.api_time),
    Metric("latency-over-time", "Latency percentiles over time (ms)", "performance", "lines",
           performance.latency_over_time),
    Metric("release-health", "Release health", "releases", "releases", releases.release_health),
    Metric("cohorts", "Weekly retention cohorts", "growth", "cohort", growth.cohorts),
    Metric("heavy-installs", "Heaviest installs (paid-plan candidates)", "growth", "table",
           growth.heavy_installs),
    Metric("commands-per-month", "Installs by commands per month", "growth", "table",
           growth.commands_per_month),
    Metric("feature-gaps", "Commands that fail most (feature gaps)", "growth", "hbar",
           growth.feature_gaps, y="failure_rate"),
    Metric("live", "Events per minute, last 15 minutes", "live", "bar", growth.live),
    Metric("recent", "Latest events", "live", "table", growth.recent),
]  # fmt: skip


def folding(compute: Compute) -> Compute:
    """``compute`` after folding the pending rollup rows: answers are exact as of the read,
    except after an upload burst too large to fold within a read (the note says so)."""

    def run(db: Db, f: Filters) -> Table:
        left = fold_for_read(db)
        with scoped(db, f) as sdb:
            table = compute(sdb, f)
        if not left:
            return table
        lag = f"more than {READ_FOLD_LIMIT:,} new events are still being folded in"
        return replace(table, note=f"{table.note}; {lag}" if table.note else lag)

    return run


METRICS: dict[str, Metric] = {m.name: replace(m, compute=folding(m.compute)) for m in _ALL}
SECTIONS = ("overview", "adoption", "usage", "performance", "releases", "growth", "live")


def compute(db: Db, name: str, f: Filters) -> Table:
    """Answer one metric (``KeyError`` for an unknown name)."""
    return METRICS[name].compute(db, f)
