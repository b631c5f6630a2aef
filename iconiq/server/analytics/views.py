"""Shaping metric tables for the dashboard: empty states and the two grids."""

from __future__ import annotations

from typing import Any

from iconiq.server.analytics.query import Table


def is_empty(table: Table) -> bool:
    """No rows, or nothing but zeros and blanks after the label column."""
    for row in table.rows:
        for value in row[1:]:
            if isinstance(value, bool):
                continue
            if isinstance(value, int | float) and value:
                return False
            if isinstance(value, str) and value and table.columns[0] != "metric":
                return False
    return True


def heat_grid(table: Table) -> list[tuple[str, list[tuple[int, float]]]]:
    """Weekday rows × 24 hour cells of (events, level 0..1) from the peak-hours table."""
    top = max((int(r[2]) for r in table.rows), default=0) or 1
    grid: dict[str, list[tuple[int, float]]] = {}
    for day, _hour, n in table.rows:
        grid.setdefault(day, []).append((int(n), round(int(n) / top, 3)))
    return list(grid.items())


def cohort_grid(table: Table) -> tuple[list[tuple[str, int, list[tuple[int, float]]]], int]:
    """Cohort rows of (week, size, [(active, retention)…]) and the widest row's length."""
    rows: dict[str, tuple[int, list[tuple[int, float]]]] = {}
    for week, size, _k, n, retention in table.rows:
        rows.setdefault(week, (int(size), []))[1].append((int(n), float(retention)))
    grid = [(w, size, cells) for w, (size, cells) in rows.items()]
    return grid, max((len(c) for _, _, c in grid), default=0)


def panel(metric: Any, table: Table, ms: float, data: dict[str, Any]) -> dict[str, Any]:
    """Everything the template needs for one panel."""
    out: dict[str, Any] = {
        "metric": metric,
        "table": table,
        "ms": ms,
        "data": data,
        "empty": is_empty(table),
    }
    if metric.chart == "heatmap":
        out["grid"] = heat_grid(table)
    elif metric.chart == "cohort":
        out["grid"], out["width"] = cohort_grid(table)
    return out
