"""``create_app(settings)``: the FastAPI application of iconiq-server.

``app.state.store`` is the event repository (``.dialect``, ``.connection()``),
``app.state.settings`` the ServerSettings. Analytics routes are added by
``iconiq.server.analytics.web.register(app)``. ``WorkerApp(settings)`` is the app
factory each ``serve --workers N`` process calls (docs/architecture.md, "Server settings").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
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
from iconiq.server.config import MIN_REMOTE_TOKEN, ServerSettings
from iconiq.server.ratelimit import AuthBrake, LimitStore, RateLimiter
from iconiq.server.security import SecurityHeaders, is_loopback_host
from iconiq.server.storage.base import Store, open_store

log = logging.getLogger("iconiq.server")

_UNAVAILABLE = (sqlite3.OperationalError, psycopg.OperationalError, psycopg_pool.PoolTimeout)


def check_exposure(settings: ServerSettings) -> None:
    """Refuse a guessable admin token on a non-loopback address."""
    token = settings.admin_token
    if token and len(token) < MIN_REMOTE_TOKEN and not is_loopback_host(settings.host):
        raise InvalidInput(
            f"ICONIQ_ADMIN_TOKEN has {len(token)} characters; serving on {settings.host}"
            f" needs at least {MIN_REMOTE_TOKEN} (e.g. openssl rand -hex 24), or bind 127.0.0.1"
        )


def create_app(settings: ServerSettings | None = None, store: Store | None = None) -> FastAPI:
    """Build the app; opens the store and applies pending migrations."""
    settings = settings or ServerSettings.from_env()
    check_exposure(settings)
    if not settings.admin_token:
        # Analytics never answer without a credential: a token nobody knows.
        # (``serve`` makes its own and prints it.)
        settings = settings.with_(admin_token=secrets.token_urlsafe(32))
    store = store or open_store(settings.database_url, pool_size=settings.pool_size)
    store.migrate()
    limit_store = LimitStore(settings.rate_limit_storage, settings.rate_limit_salt)
    limiter = RateLimiter(settings.rate_limit, limit_store) if settings.rate_limit else None
    geo.warm()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if settings.purge_interval > 0:
            tasks.append(asyncio.create_task(retention.run_periodically(store, settings)))
        if settings.fold_interval > 0:
            from iconiq.server.analytics.rollups.folding import (
                run_periodically as fold_periodically,
            )

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
        # The interactive docs would load scripts from a public CDN on the admin
        # cookie's origin: off. /openapi.json stays (it describes, holds no data).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.limit_store = limit_store
    app.state.limiter = limiter
    app.state.brake = AuthBrake(settings.auth_failure_limit, limit_store)
    app.include_router(api.router)
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(ClientDisconnect)
    async def hung_up(request: Request, exc: ClientDisconnect) -> Response:
        log.info(
            "client hung up before sending the whole request: %s %.80r",
            request.method,
            request.url.path,
        )
        return Response(status_code=400)

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

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s", type(exc).__name__)
        return JSONResponse({"error": "internal server error"}, status_code=500)

    from iconiq.server.analytics import web

    web.register(app)
    return app


class WorkerApp:
    """The app factory of ``serve --workers N``: holds the settings ``serve`` resolved.

    uvicorn pickles its config, and this factory with it, into every worker process
    it spawns; each worker calls it once to build its own app (its own store and
    pool). No setting travels through the environment, so a worker answers with
    exactly the settings of the command line that started it, a generated admin
    token included.
    """

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings

    def __call__(self) -> FastAPI:
        return create_app(self.settings)
