"""``iconiq-server report``: the headline metrics as rich tables in a terminal (``--json`` too)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table as RichTable

from iconiq.server.analytics.metrics import METRICS
from iconiq.server.analytics.query import Filters, Table

# The metrics the report shows, in order, and how many rows of each.
SHOWN: tuple[tuple[str, int], ...] = (
    ("summary", 20),
    ("weekly-active", 8),
    ("commands", 10),
    ("countries", 10),
    ("errors", 10),
    ("execution-time", 10),
    ("api-time", 10),
    ("feature-gaps", 10),
    ("heavy-installs", 10),
    ("release-health", 10),
)


def collect(database_url: str, f: Filters) -> dict[str, Table]:
    """Compute the report's metrics (migrating the database first, as the server does)."""
    from iconiq.server.storage.base import open_store

    store = open_store(database_url, pool_size=1)
    try:
        store.migrate()
        with store.db() as db:
            return {name: METRICS[name].compute(db, f) for name, _ in SHOWN}
    finally:
        store.close()


def render(tables: dict[str, Table], f: Filters, console: Console) -> None:
    desc = f.describe()
    scope = f"{desc['from']} … {desc['to']} (UTC)"
    if f.version:
        scope += f", version {f.version}"
    if f.command:
        scope += f", command {f.command}"
    console.print(f"[bold]iconiq usage report[/bold]  {scope}")
    for name, limit in SHOWN:
        table = tables[name]
        if name == "release-health":
            render_releases(table, limit, console)
            continue
        out = RichTable(title=METRICS[name].title, title_justify="left", expand=False)
        for column in table.columns:
            numeric = any(
                isinstance(r[table.columns.index(column)], int | float) for r in table.rows
            )
            out.add_column(column.replace("_", " "), justify="right" if numeric else "left")
        for row in table.rows[:limit]:
            out.add_row(*("—" if v is None else str(v) for v in row))
        if not table.rows:
            console.print(f"[dim]{METRICS[name].title}: no events in this range[/dim]")
            continue
        console.print(out)
        if table.note:
            console.print(f"[dim]{table.note}[/dim]")


def _percent(rate: Any) -> str:
    return "—" if rate is None else f"{rate * 100:.1f} %"


def _rich(title: str, columns: dict[str, str], rows: list[list[str]]) -> RichTable:
    out = RichTable(title=title, title_justify="left", expand=False)
    for column, justify in columns.items():
        out.add_column(column, justify="right" if justify == "r" else "left")
    for row in rows:
        out.add_row(*row)
    return out


def render_releases(table: Table, limit: int, console: Console) -> None:
    """The "Release health" section: versions (newest first), then the regressions."""
    if not table.rows:
        console.print("[dim]Release health: no events in this range[/dim]")
        return
    versions = [
        [
            r["version"],
            r["first_seen"],
            f"{r['installs']:,}",
            f"{r['events']:,}",
            f"{_percent(r['success_rate'])}"
            f" ({_percent(r['success_low'])}–{_percent(r['success_high'])})",
            r["baseline"] or "—",
            str(r["regressions"]),
        ]
        for r in table.records()[:limit]
    ]
    columns = {"version": "l", "first seen": "l", "installs": "r", "events": "r",
               "success (95 % interval)": "r", "previous": "l", "regressions": "r"}  # fmt: skip
    console.print(_rich("Release health", columns, versions))
    regressions = [
        [
            r["command"],
            r["version"],
            _percent(r["failure_rate"]),
            r["baseline"],
            _percent(r["baseline_failure_rate"]),
            f"{r['runs']:,} / {r['baseline_runs']:,}",
            "< 0.0001" if r["p_value"] < 0.0001 else f"{r['p_value']:.2g}",
        ]
        for r in table.parts["regressions"].records()
    ]
    if regressions:
        columns = {"command": "l", "version": "l", "failure rate": "r", "previous": "l",
                   "its failure rate": "r", "runs (both)": "r", "p-value": "r"}  # fmt: skip
        console.print(_rich("Regressions", columns, regressions))
    else:
        console.print(
            "No regressions: no command fails significantly more often than in the version before."
        )
    if table.note:
        console.print(f"[dim]{table.note}[/dim]")


def report(
    database: Annotated[
        str | None,
        typer.Option(
            "--database",
            help="sqlite:///… or postgresql://… (default: as serve)",
            show_default=False,
        ),
    ] = None,
    days: Annotated[int, typer.Option("--days", help="Range: the last N days.")] = 30,
    start: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (instead of --days).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD.")] = None,
    version: Annotated[str | None, typer.Option("--version", help="Only this version.")] = None,
    command: Annotated[str | None, typer.Option("--command", help="Only this command.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Print the headline usage metrics (adoption, usage, performance, releases, growth)."""
    from iconiq.server.config import ServerSettings

    args = {"days": str(days), "from": start or "", "to": end or "",
            "version": version or "", "command": command or ""}  # fmt: skip
    settings = ServerSettings.from_env().with_(database_url=database)
    f = Filters.parse(args, settings.top_values)
    url = settings.database_url
    tables = collect(url, f)
    if as_json:
        payload: dict[str, Any] = {
            "filters": f.describe(),
            "metrics": {name: t.records() for name, t in tables.items()},
        }
        for name, t in tables.items():  # e.g. "release-health.regressions"
            payload["metrics"].update({f"{name}.{k}": p.records() for k, p in t.parts.items()})
        typer.echo(json.dumps(payload, indent=2, default=str))
        return
    render(tables, f, Console())
