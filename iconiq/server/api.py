"""The collection API: ``/v1/track``, ``/v1/batch``, ``/v1/installs/{id}`` and ``/healthz``.

Each event is validated on its own: a batch is answered 200 with honest
``accepted`` / ``duplicates`` counts and the ``rejected`` indexes; the whole
request is refused only for a malformed body (400), one too large (413), one
that is not JSON (415) or a client over its rate (429 with ``Retry-After``).
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from iconiq.server import geo
from iconiq.server.body import BodyError, parse_json, read_body
from iconiq.server.events import Batch, Event, Row, check_time, validate
from iconiq.telemetry.schema import MAX_BATCH_EVENTS

router = APIRouter()


class Rejection(BaseModel):
    index: int
    error: str


class Outcome(BaseModel):
    accepted: int
    duplicates: int
    rejected: list[Rejection]


class Erased(BaseModel):
    install_id: str
    erased: int


class Problem(BaseModel):
    error: str


class Health(BaseModel):
    status: str
    database: str
    rate_limit: str


def _problem(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text}
    for code, text in (
        (400, "Malformed body"),
        (413, "Body too large (1 MiB after decompression) or too many events (500)"),
        (415, "Body is not JSON, or an unsupported Content-Encoding"),
        (429, "Too many requests from this address; see Retry-After"),
        (503, "Storage unavailable; retry later"),
    )
}


def _body_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# Request bodies as documented: each event is validated on its own and a bad one is
# answered in ``rejected`` (200), so the HTTP-level schema only requires the envelope.
_EVENT_DOC = (
    "An event of wire format v1 (fields and bounds: docs/server.md). Unknown fields are"
    " ignored; an invalid event is reported in `rejected`, never stored."
)
_TRACK_SCHEMA: dict[str, Any] = {"type": "object", "description": _EVENT_DOC}
_BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["events"],
    "properties": {
        "events": {
            "type": "array",
            "items": {"description": _EVENT_DOC},
            "description": f"At most {MAX_BATCH_EVENTS} events (else 413).",
        }
    },
}


Address = ipaddress.IPv4Address | ipaddress.IPv6Address | None


async def _admit(request: Request) -> tuple[Address, JSONResponse | None]:
    """The client address (to derive a country, then forget) and a 429 if over its rate."""
    state = request.app.state
    peer = request.client.host if request.client else None
    addr = geo.client_address(
        peer, request.headers.get("x-forwarded-for"), state.settings.trusted_proxies
    )
    if state.limiter is not None:
        wait = await run_in_threadpool(state.limiter.check, addr)
        if wait is not None:
            return addr, _problem(429, "rate limit exceeded", {"Retry-After": str(int(wait))})
    return addr, None


def _validated(raw: bytes, batch: bool, now: int, retention_ms: int) -> list[Event | str]:
    """Each event, validated, or the reason it is rejected; BodyError for a bad envelope.

    Fast path: the whole body parsed and validated in one pass by pydantic-core; when
    anything in it is invalid, the body is parsed again and each event checked alone.
    """
    try:
        if batch:
            events = Batch.model_validate_json(raw).events
        else:
            events = [Event.model_validate_json(raw)]
        return [check_time(e, now, retention_ms) for e in events]
    except ValidationError:
        pass
    body = parse_json(raw)
    if batch:
        items = body.get("events") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise BodyError(400, 'the body must be an object {"events": [...]}')
        if len(items) > MAX_BATCH_EVENTS:
            raise BodyError(413, f"at most {MAX_BATCH_EVENTS} events per batch")
    else:
        if not isinstance(body, dict):
            raise BodyError(400, "the body must be one event, a JSON object")
        items = [body]
    return [validate(item, now, retention_ms) for item in items]


async def _ingest(request: Request, batch: bool) -> JSONResponse:
    state = request.app.state
    addr, refused = await _admit(request)
    if refused is not None:
        return refused
    country = geo.country_of(addr)
    del addr
    now = int(time.time() * 1000)
    try:
        raw = await read_body(request)
        results = _validated(raw, batch, now, state.settings.retention_ms)
    except BodyError as exc:
        return _problem(exc.status, exc.message)
    rows: list[Row] = []
    rejected: list[dict[str, Any]] = []
    seen: set[str] = set()
    duplicates_in_request = 0
    for index, result in enumerate(results):
        if isinstance(result, str):
            rejected.append({"index": index, "error": result})
        elif result.event_id in seen:
            duplicates_in_request += 1
        else:
            seen.add(result.event_id)
            rows.append(Row(result, country, now))
    accepted = await run_in_threadpool(state.store.insert, rows) if rows else 0
    duplicates = len(rows) - accepted + duplicates_in_request
    return JSONResponse({"accepted": accepted, "duplicates": duplicates, "rejected": rejected})


@router.post(
    "/v1/track",
    response_model=Outcome,
    responses=_ERRORS,
    openapi_extra=_body_schema(_TRACK_SCHEMA),
    summary="Record one event",
)
async def track(request: Request) -> JSONResponse:
    return await _ingest(request, batch=False)


@router.post(
    "/v1/batch",
    response_model=Outcome,
    responses=_ERRORS,
    openapi_extra=_body_schema(_BATCH_SCHEMA),
    summary="Record up to 500 events",
)
async def batch(request: Request) -> JSONResponse:
    return await _ingest(request, batch=True)


@router.delete(
    "/v1/installs/{install_id}",
    response_model=Erased,
    responses={k: v for k, v in _ERRORS.items() if k in (400, 429, 503)},
    summary="Erase every event of one install",
)
async def erase_install(
    install_id: Annotated[
        str, Path(description="The install's UUID", json_schema_extra={"format": "uuid"})
    ],
    request: Request,
) -> JSONResponse:
    state = request.app.state
    try:
        canonical = str(uuid.UUID(install_id))
    except ValueError:
        return _problem(400, "install_id must be a UUID")
    _addr, refused = await _admit(request)
    del _addr
    if refused is not None:
        return refused
    erased = await run_in_threadpool(state.store.erase_install, canonical)
    return JSONResponse({"install_id": canonical, "erased": erased})


@router.get("/healthz", response_model=Health, responses={503: {"model": Problem}})
def healthz(request: Request) -> JSONResponse:
    """Liveness, database and rate-limit store reachability; open to everyone.

    A rate-limit store that is down answers 200 ``"status": "degraded"`` (uploads
    are still taken, unlimited; sign-in is refused), the database down 503."""
    state = request.app.state
    store = state.store
    try:
        with store.connection() as conn:
            conn.execute("SELECT 1").fetchone()
    except Exception:  # noqa: BLE001 - reported as 503, details stay in the server log
        return _problem(503, "database unavailable")
    rate_limit = "ok" if state.limit_store.healthy() else "unavailable"
    status = "ok" if rate_limit == "ok" else "degraded"
    return JSONResponse({"status": status, "database": store.dialect, "rate_limit": rate_limit})
