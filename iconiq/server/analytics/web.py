"""Mounts the dashboard (``/``) and the metrics API (``/v1/metrics/...``) on the app.

- ``GET /v1/metrics``: the metric names; ``GET /v1/metrics/{name}`` one metric as
  JSON, ``/v1/metrics/{name}.csv`` or ``?format=csv`` as CSV. Admin token needed.
- ``GET /`` and ``/{section}`` (adoption, usage, performance, growth, live): the
  dashboard pages, the same data as JSON with ``?format=json``. Without a session
  they redirect to ``/login``, a form that takes the admin token and sets the
  HttpOnly, SameSite=Strict session cookie.
- ``GET /-/static/{digest}/{path}``: the dashboard's assets (see ``assets``).

Every endpoint takes the range and filters of ``query.Filters.parse``.
"""

from __future__ import annotations

import csv
import hmac
import io
import json
import time
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from iconiq.errors import InvalidInput
from iconiq.server.analytics import assets, views
from iconiq.server.analytics.fold import fold
from iconiq.server.analytics.metrics import METRICS, SECTIONS, Metric
from iconiq.server.analytics.query import Filters, Table, date_of
from iconiq.server.analytics.top import ranked
from iconiq.server.security import COOKIE_NAME, is_admin, require_admin, session_cookie_value

OVERVIEW = ("summary", "daily-active", "commands", "success-rate", "errors", "execution-time")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
    " connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad range or filter"},
    401: {"description": "Admin token required"},
    404: {"description": "No such metric"},
}


def section_metrics(section: str) -> list[Metric]:
    if section == "overview":
        return [METRICS[n] for n in OVERVIEW]
    return [m for m in METRICS.values() if m.section == section]


def run_metric(request: Request, metric: Metric, f: Filters) -> tuple[Table, float]:
    """The metric's table and how long it took (ms)."""
    store = request.app.state.store
    started = time.perf_counter()
    with store.connection() as conn:
        table = metric.compute(conn, store.dialect, f)
    return table, round((time.perf_counter() - started) * 1000, 1)


def as_json(metric: Metric, f: Filters, table: Table, ms: float) -> dict[str, Any]:
    return {
        "metric": metric.name,
        "title": metric.title,
        "filters": f.describe(),
        "columns": table.columns,
        "rows": table.records(),
        "note": table.note,
        "compute_ms": ms,
    }


def as_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(table.rows)
    return out.getvalue()


def _bad(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def metric_response(request: Request, name: str) -> Response:
    fmt = request.query_params.get("format", "json")
    if name.endswith(".csv"):
        name, fmt = name[:-4], "csv"
    elif name.endswith(".json"):
        name = name[:-5]
    metric = METRICS.get(name)
    if metric is None:
        return _bad("no such metric; GET /v1/metrics lists them", 404)
    if fmt not in ("json", "csv"):
        return _bad("format must be json or csv")
    try:
        f = Filters.parse(request.query_params, request.app.state.settings.top_values)
    except InvalidInput as exc:
        return _bad(str(exc))
    table, ms = run_metric(request, metric, f)
    if fmt == "csv":
        return Response(
            as_csv(table),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return JSONResponse(as_json(metric, f, table, ms))


def choices(request: Request, f: Filters) -> dict[str, list[str]]:
    """The ``f.top`` versions and commands with the most events in the range, by name (the
    filter menus; the selected value is added by the template when it is not among them)."""
    store = request.app.state.store
    with store.connection() as conn:
        fold(conn, store.dialect)
        out = {}
        for col in ("version", "command"):
            rows, _ = ranked(
                conn,
                store.dialect,
                f"SELECT {col} FROM an_daily WHERE dim = 'total' AND day BETWEEN ? AND ?"
                f" GROUP BY {col} ORDER BY sum(events) DESC, {col}",
                [f.start, f.end],
                f.top,
            )
            out[col] = sorted(str(r[0]) for r in rows)
    return out


def page(request: Request, section: str) -> Response:
    if not is_admin(request):
        target = quote(str(request.url.path), safe="/")
        return RedirectResponse(f"/login?next={target}", status_code=303)
    try:
        f = Filters.parse(request.query_params, request.app.state.settings.top_values)
    except InvalidInput as exc:
        if request.query_params.get("format") == "json":
            return _bad(str(exc))
        return HTMLResponse(assets.render("error.html", message=str(exc)), status_code=400)
    panels = []
    for metric in section_metrics(section):
        table, ms = run_metric(request, metric, f)
        panels.append(views.panel(metric, table, ms, as_json(metric, f, table, ms)))
    if request.query_params.get("format") == "json":
        return JSONResponse(
            {"section": section, "filters": f.describe(), "panels": [p["data"] for p in panels]}
        )
    html = assets.render(
        "dashboard.html",
        section=section,
        sections=SECTIONS,
        panels=panels,
        filters=f,
        dates={"from": date_of(f.start), "to": date_of(f.end)},
        query=f.query_string(),
        choices=choices(request, f),
        json=lambda v: json.dumps(v, default=str).replace("</", "<\\/"),
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP})


def register(app: FastAPI) -> None:
    """Add the analytics routes to ``app``."""

    @app.get(
        "/v1/metrics", dependencies=[Depends(require_admin)], responses=_ERRORS, tags=["analytics"]
    )
    def list_metrics() -> dict[str, Any]:
        """The metric names, titles and dashboard sections."""
        return {
            "metrics": [
                {"name": m.name, "title": m.title, "section": m.section} for m in METRICS.values()
            ]
        }

    @app.get(
        "/v1/metrics/{name}",
        dependencies=[Depends(require_admin)],
        responses=_ERRORS,
        tags=["analytics"],
    )
    def get_metric(name: str, request: Request) -> Response:
        """One metric over ``from``/``to`` or ``days``, filtered by ``version`` and
        ``command``; JSON, or CSV with ``.csv`` or ``?format=csv``."""
        return metric_response(request, name)

    @app.get("/login", include_in_schema=False)
    def login_form(request: Request) -> HTMLResponse:
        return HTMLResponse(
            assets.render("login.html", error=None, next=_next(request)),
            headers={"Content-Security-Policy": CSP},
        )

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        body = (await request.body())[:4096].decode("utf-8", "replace")
        form = parse_qs(body)
        given = (form.get("token") or [""])[0].strip()
        target = (form.get("next") or ["/"])[0]
        if not target.startswith("/") or target.startswith("//"):
            target = "/"
        token: str | None = request.app.state.settings.admin_token
        if not token or not hmac.compare_digest(given.encode(), token.encode()):
            html = assets.render("login.html", error="That token is not right.", next=target)
            return HTMLResponse(html, status_code=401, headers={"Content-Security-Policy": CSP})
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE_NAME,
            session_cookie_value(token),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    @app.post("/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
        return response

    @app.get("/-/static/{digest}/{path:path}", include_in_schema=False)
    def static(digest: str, path: str) -> Response:
        return assets.static_response(digest, path)

    @app.get("/", include_in_schema=False)
    def overview(request: Request) -> Response:
        return page(request, "overview")

    for section in SECTIONS[1:]:
        app.add_api_route(
            f"/{section}",
            _section_handler(section),
            methods=["GET"],
            include_in_schema=False,
        )


def _section_handler(section: str) -> Any:
    def handler(request: Request) -> Response:
        return page(request, section)

    return handler


def _next(request: Request) -> str:
    target = request.query_params.get("next", "/")
    return target if target.startswith("/") and not target.startswith("//") else "/"
