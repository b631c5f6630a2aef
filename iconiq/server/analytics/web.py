"""Mounts the dashboard (``/``) and the metrics API (``/v1/metrics/...``) on the app.

- ``GET /v1/metrics``: the metric names; ``GET /v1/metrics/{name}`` one metric as
  JSON, ``/v1/metrics/{name}.csv`` or ``?format=csv`` as CSV. Admin token needed.
- ``GET /`` and ``/{section}`` (adoption, usage, performance, growth, live): the
  dashboard pages, the same data as JSON with ``?format=json``. Without a session
  they redirect to ``/login``, a form that takes the admin token (or
  ``/login?token=...``, the URL ``serve`` prints) and sets the session cookie
  (``iconiq.server.sessions``); ``POST /logout`` revokes it. Who is an admin, and
  which ``Host`` they may use: ``iconiq.server.security``.
- ``GET /-/static/{digest}/{path}``: the dashboard's assets (see ``assets``).

Every endpoint takes the range and filters of ``query.Filters.parse`` (the
breakdown filters too: ``country``, ``os``, ``model``, ``output_format``, ``ci``).
``compare=previous`` on a headline metric (``summary``) adds each number's value
over the previous period of the same length and the change (``compare``); the
dashboard's cards always show it.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from iconiq.errors import InvalidInput
from iconiq.server import sessions
from iconiq.server.analytics import assets, compare, releases, scope, views
from iconiq.server.analytics.metrics import METRICS, SECTIONS, Metric
from iconiq.server.analytics.query import BREAKDOWNS, Filters, Table
from iconiq.server.analytics.rollups.folding import fold_for_read
from iconiq.server.analytics.top import ranked
from iconiq.server.calendar import date_of, today, week_end, week_of
from iconiq.server.security import (
    BAD_HOST,
    COOKIE_NAME,
    NO_CREDENTIAL,
    Refusal,
    admin_refusal,
    braked,
    failed_credential,
    host_allowed,
    is_https,
    require_admin,
    session_of,
    token_matches,
)

# Panels whose rows are values of a filter: a click on one filters the dashboard by it.
CLICKABLE = {
    "countries": "country",
    "operating-systems": "os",
    "models": "model",
    "output-formats": "output_format",
    "ci-share": "ci",
    "ci-providers": "ci_provider",
    "invoked-by": "invoked_by",
    "commands": "command",
}
OVERVIEW = ("summary", "daily-active", "commands", "success-rate", "errors", "execution-time")
MAX_FORM = 4096  # the sign-in form: a token and a path
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Bad range or filter"},
    401: {"description": "Admin token required"},
    404: {"description": "No such metric"},
}


def section_metrics(section: str) -> list[Metric]:
    if section == "overview":
        return [METRICS[n] for n in OVERVIEW]
    return [m for m in METRICS.values() if m.section == section]


def run_metric(
    request: Request, metric: Metric, f: Filters, previous: bool = False
) -> tuple[Table, float]:
    """The metric's table and how long it took (ms); with ``previous``, a headline table
    compared with the previous period of the same length (``compare``)."""
    store = request.app.state.store
    started = time.perf_counter()
    with store.db() as db:
        table = metric.compute(db, f)
        if previous and compare.comparable(table):
            table = compare.with_previous(table, metric.compute(db, f.previous()))
    table = replace(table, note=scope.note(metric.name, f, table.note))
    return table, round((time.perf_counter() - started) * 1000, 1)


def wants_previous(request: Request) -> bool:
    """``compare=previous`` (or nothing); anything else is a 400."""
    given = request.query_params.get("compare", "")
    if given not in ("", "previous"):
        raise InvalidInput("compare must be previous")
    return given == "previous"


def as_json(metric: Metric, f: Filters, table: Table, ms: float) -> dict[str, Any]:
    out = {
        "metric": metric.name,
        "title": metric.title,
        "filters": f.describe(),
        "columns": table.columns,
        "rows": table.records(),
        "note": table.note,
        "compute_ms": ms,
        **{name: part.records() for name, part in table.parts.items()},
    }
    if "previous" in table.columns:
        before = f.previous().describe()
        out["previous_period"] = {"from": before["from"], "to": before["to"]}
    return out


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
    if fmt not in ("json", "csv"):
        return _bad("format must be json or csv")
    if name.endswith(".csv"):
        name, fmt = name[:-4], "csv"
    elif name.endswith(".json"):
        name = name[:-5]
    metric = METRICS.get(name)
    if metric is None:
        return _bad("no such metric; GET /v1/metrics lists them", 404)
    try:
        f = Filters.parse(request.query_params, request.app.state.settings.top_values)
        previous = wants_previous(request)
    except InvalidInput as exc:
        return _bad(str(exc))
    table, ms = run_metric(request, metric, f, previous)
    part = request.query_params.get("part")
    if part is not None:  # one further table of the answer alone (see Table.parts)
        if part not in table.parts:
            return _bad(f"part must be one of: {', '.join(table.parts) or '(none)'}"[:200])
        table, name = table.parts[part], f"{name}-{part}"
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
    with store.db() as db:
        fold_for_read(db)
        out = {}
        for col in ("version", "command"):
            rows, _ = ranked(
                db,
                f"SELECT {col} FROM an_daily WHERE dim = 'total' AND day BETWEEN ? AND ?"
                f" GROUP BY {col} ORDER BY sum(events) DESC, {col}",
                [f.start, f.end],
                f.top,
            )
            out[col] = sorted(str(r[0]) for r in rows)
    return out


def chips(f: Filters) -> list[dict[str, str]]:
    """The active filters as removable chips: what each is, and the query without it."""
    out = []
    given = [("version", "Version", f.version), ("command", "Command", f.command)]
    given += [(name, BREAKDOWNS[name].label, value) for name, value in f.breakdown]
    for name, label, value in given:
        if value is None:
            continue
        without = "&".join(p for p in f.query_string().split("&") if not p.startswith(name + "="))
        out.append({"name": name, "label": label, "value": value, "without": without})
    return out


def release_markers(request: Request, f: Filters) -> list[dict[str, str]]:
    """Release dates in the range, for the markers on the time charts (``releases.markers``)."""
    with request.app.state.store.db() as db:
        fold_for_read(db)
        return releases.markers(db, f)


def _refused(refusal: Refusal, as_json: bool = False) -> Response:
    if as_json:
        return JSONResponse(
            {"error": refusal.message}, status_code=refusal.status, headers=refusal.headers
        )
    html = assets.render("error.html", message=refusal.message)
    return HTMLResponse(html, status_code=refusal.status, headers=refusal.headers)


def page(request: Request, section: str) -> Response:
    fmt = request.query_params.get("format", "html")
    refused = admin_refusal(request)
    if refused is NO_CREDENTIAL and fmt != "json":
        target = quote(str(request.url.path), safe="/")
        return RedirectResponse(f"/login?next={target}", status_code=303)
    if refused is not None:
        return _refused(refused, fmt == "json")
    try:
        if fmt not in ("html", "json"):
            raise InvalidInput("format must be html or json")
        f = Filters.parse(request.query_params, request.app.state.settings.top_values)
        wants_previous(request)  # the cards always compare; a wrong value is still an error
    except InvalidInput as exc:
        return _refused(Refusal(400, str(exc)), fmt == "json")
    panels = []
    for metric in section_metrics(section):
        table, ms = run_metric(request, metric, f, previous=metric.name == "summary")
        panels.append(views.panel(metric, table, ms, as_json(metric, f, table, ms)))
    marks = release_markers(request, f) if section != "live" else []
    if fmt == "json":
        return JSONResponse(
            {
                "section": section,
                "filters": f.describe(),
                "panels": [p["data"] for p in panels],
                "releases": marks,
            }
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
        chips=chips(f),
        clickable=CLICKABLE,
        kept="&".join(p for p in f.query_string().split("&") if not p.startswith(("from=", "to="))),
        last_week_partial=week_end(week_of(f.end)) >= min(f.end + 1, today()),
        releases=marks,
        json=lambda v: json.dumps(v, default=str).replace("</", "<\\/"),
    )
    return HTMLResponse(html)


def _sign_in(request: Request, given: str, target: str) -> Response:
    """Exchange a token (form or login URL) for the session cookie, braked per address."""
    refused = braked(request)
    if refused is not None:
        html = assets.render("login.html", error=refused.message, next=target)
        return HTMLResponse(html, status_code=refused.status, headers=refused.headers)
    if not token_matches(request, given):
        failed_credential(request)
        html = assets.render("login.html", error="That token is not right.", next=target)
        return HTMLResponse(html, status_code=401)
    settings = request.app.state.settings
    max_age = settings.session_hours * 3600
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        sessions.new_cookie(settings.admin_token, max_age),
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
        path="/",
    )
    return response


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
    def login_form(request: Request) -> Response:
        """The sign-in form; ``?token=`` (the URL ``serve`` prints) signs in and
        redirects to a URL without the token."""
        if not host_allowed(request):
            return _refused(BAD_HOST)
        given = request.query_params.get("token")
        if given is not None:
            return _sign_in(request, given.strip(), _next(request.query_params.get("next")))
        return HTMLResponse(
            assets.render("login.html", error=None, next=_next(request.query_params.get("next")))
        )

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        if not host_allowed(request):
            return _refused(BAD_HOST)
        declared = request.headers.get("content-length", "0")
        if not declared.isascii() or not declared.isdigit() or int(declared[:12]) > MAX_FORM:
            return _refused(Refusal(413, "that form is too large"))
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM:
                return _refused(Refusal(413, "that form is too large"))
        form = parse_qs(body.decode("utf-8", "replace"))
        given = (form.get("token") or [""])[0].strip()
        target = _next((form.get("next") or ["/"])[0])
        return await run_in_threadpool(_sign_in, request, given, target)

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        """Sign out: the session is revoked in the database, for every server process."""
        if not host_allowed(request):
            return _refused(BAD_HOST)
        session = session_of(request)
        if session is not None:
            sessions.revoke(request.app.state.store, *session)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(
            COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=is_https(request)
        )
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


def _next(target: str | None) -> str:
    """A same-site path to go to after signing in (never another origin: no ``//``,
    no ``/\\``, no control characters), else ``/``."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith(("//", "/\\"))
        or len(target) > 200
        or not target.isprintable()
    ):
        return "/"
    return target
