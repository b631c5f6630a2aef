"""``create_app(settings)``: the FastAPI application of iconiq-server.

``app.state.store`` is the event repository (``.dialect``, ``.connection()``),
``app.state.settings`` the ServerSettings. Analytics routes are added by
``iconiq.server.analytics.web.register(app)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from iconiq import __version__
from iconiq.errors import InvalidInput
from iconiq.server import api, geo, retention
from iconiq.server.config import ServerSettings
from iconiq.server.ratelimit import RateLimiter
from iconiq.server.security import is_loopback_host
from iconiq.server.storage.base import Store, open_store

log = logging.getLogger("iconiq.server")

_UNAVAILABLE = (sqlite3.OperationalError, psycopg.OperationalError, psycopg_pool.PoolTimeout)


def check_exposure(settings: ServerSettings) -> None:
    """Refuse to serve analytics on a non-loopback address without an admin token."""
    if not settings.admin_token and not is_loopback_host(settings.host):
        raise InvalidInput(
            f"refusing to serve on {settings.host} without ICONIQ_ADMIN_TOKEN"
            " (the dashboard and metrics API would be open); set it, or bind 127.0.0.1"
        )


def create_app(settings: ServerSettings | None = None, store: Store | None = None) -> FastAPI:
    """Build the app; opens the store and applies pending migrations."""
    settings = settings or ServerSettings.from_env()
    check_exposure(settings)
    store = store or open_store(settings.database_url, pool_size=settings.pool_size)
    store.migrate()
    limiter = (
        RateLimiter(settings.rate_limit, settings.rate_limit_storage)
        if settings.rate_limit
        else None
    )
    geo.warm()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if settings.purge_interval > 0:
            tasks.append(asyncio.create_task(retention.run_periodically(store, settings)))
        if settings.fold_interval > 0:
            from iconiq.server.analytics.fold import run_periodically as fold_periodically

            tasks.append(asyncio.create_task(fold_periodically(store, settings.fold_interval)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            store.close()

    app = FastAPI(
        title="iconiq-server",
        version=__version__,
        summary="Collects iconiq's anonymous usage telemetry.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.limiter = limiter
    app.include_router(api.router)

    @app.exception_handler(_UNAVAILABLE[0])
    @app.exception_handler(_UNAVAILABLE[1])
    @app.exception_handler(_UNAVAILABLE[2])
    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("storage unavailable: %s", type(exc).__name__)
        return JSONResponse(
            {"error": "storage unavailable, retry later"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(ClientDisconnect)
    async def disconnected(request: Request, exc: ClientDisconnect) -> Response:
        # The client left mid-body, or a connection limit (limits.py) closed it: nobody
        # to answer, and nothing for the log (a client must not be able to flood it).
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s", type(exc).__name__)
        return JSONResponse({"error": "internal server error"}, status_code=500)

    from iconiq.server.analytics import web

    web.register(app)
    return app


def app_from_env() -> FastAPI:
    """App factory for ``serve --workers N``: settings from the environment the parent set."""
    settings = ServerSettings.from_env()
    host = os.environ.get("ICONIQ_SERVE_HOST", "").strip()
    return create_app(settings.with_(host=host or None))
