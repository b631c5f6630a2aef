"""``iconiq-server``: serve the collection API, migrate, purge expired events, import exports."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from iconiq.errors import IconiqError
from iconiq.server.config import ServerSettings, show_tracebacks
from iconiq.server.report import report as report_command

app = typer.Typer(
    name="iconiq-server",
    help="Collect iconiq's anonymous usage telemetry (SQLite by default, PostgreSQL to scale).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="sqlite:///path/to.db or postgresql://... (default: ICONIQ_DATABASE_URL,"
        " else iconiq-server.db in the iconiq data dir)",
        show_default=False,
    ),
]


def _settings(database: str | None = None, **changes: object) -> ServerSettings:
    return ServerSettings.from_env().with_(database_url=database, **changes)


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _print_login_url(host: str, port: int, token: str) -> None:
    """The sign-in URL for a generated token: on stderr only, never through logging."""
    local = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "[::]": "[::1]"}.get(host, host)
    if ":" in local and not local.startswith("["):
        local = f"[{local}]"
    sys.stderr.write(
        "iconiq-server: no ICONIQ_ADMIN_TOKEN set, so this run made one; open the dashboard"
        f" with\n    http://{local}:{port}/login?token={token}\n"
    )
    sys.stderr.flush()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind (0: any free port).")] = 8787,
    database: DatabaseOption = None,
    port_file: Annotated[
        Path | None, typer.Option(help="Write the bound port to this file once listening.")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Server processes sharing the socket.")
    ] = 1,
) -> None:
    """Serve the collection API, dashboard and metrics (migrates the database first).

    Without ICONIQ_ADMIN_TOKEN a random token is made and a sign-in URL printed.
    Connections are bounded in size and time (ICONIQ_MAX_CONNECTIONS, ICONIQ_HEADER_TIMEOUT,
    ...; see docs/server.md, "Running it on the internet").
    """
    import uvicorn

    from iconiq.server.app import WorkerApp, create_app
    from iconiq.server.limits import LimitedConfig, raise_open_file_limit

    _configure_logging()
    settings = _settings(database, host=host)
    generated = not settings.admin_token
    if generated:
        # Every worker (and only this process's stderr) gets the same new token.
        settings = settings.with_(admin_token=secrets.token_urlsafe(24))
    app_ = create_app(settings)  # validates the settings and migrates, in this process
    files = raise_open_file_limit(settings.max_connections)  # workers inherit it
    if files < settings.max_connections + 256:
        logging.getLogger("iconiq.server").warning(
            "open-file limit %d is low for ICONIQ_MAX_CONNECTIONS=%d; raise ulimit -n",
            files,
            settings.max_connections,
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise IconiqError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    bound = sock.getsockname()[1]
    if workers > 1:
        # Each worker process builds its own app from these settings (app.WorkerApp).
        app_.state.store.close()
        config = LimitedConfig(
            WorkerApp(settings),
            settings,
            factory=True,
            workers=workers,
            access_log=False,
            proxy_headers=False,
            server_header=False,
        )
    else:
        config = LimitedConfig(
            app_, settings, access_log=False, proxy_headers=False, server_header=False
        )
    server = uvicorn.Server(config)
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    logging.getLogger("iconiq.server").info("listening on http://%s:%d", shown, bound)
    if generated:
        _print_login_url(host, bound, str(settings.admin_token))
    if port_file is not None:
        tmp = port_file.with_name(port_file.name + ".tmp")
        tmp.write_text(str(bound))
        os.replace(tmp, port_file)
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[sock]).run()
    else:
        server.run(sockets=[sock])


@app.command()
def migrate(database: DatabaseOption = None) -> None:
    """Apply pending schema migrations and list them."""
    from iconiq.server.storage.base import open_store

    store = open_store(_settings(database).database_url)
    try:
        applied = store.migrate()
    finally:
        store.close()
    typer.echo("\n".join(f"applied {name}" for name in applied) or "schema is up to date")


@app.command("purge-expired")
def purge_expired(
    database: DatabaseOption = None,
    retention_days: Annotated[
        int | None,
        typer.Option(min=1, help="Keep this many days (default: ICONIQ_RETENTION_DAYS or 730)."),
    ] = None,
) -> None:
    """Delete events older than the retention window now."""
    from iconiq.server import retention
    from iconiq.server.storage.base import open_store

    settings = _settings(database, retention_days=retention_days)
    store = open_store(settings.database_url)
    try:
        store.migrate()
        deleted = retention.purge(store, settings)
    finally:
        store.close()
    typer.echo(f"deleted {deleted} events older than {settings.retention_days} days")


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(help="Export from `iconiq telemetry export` (.jsonl[.gz]).")
    ],
    database: DatabaseOption = None,
) -> None:
    """Load a client's telemetry export (air-gapped hand-over) into the database."""
    from iconiq.server.importer import import_file
    from iconiq.server.storage.base import open_store

    settings = _settings(database)
    store = open_store(settings.database_url)
    try:
        store.migrate()
        result = import_file(file, store, settings)
    finally:
        store.close()
    typer.echo(
        f"accepted {result.accepted}, duplicates {result.duplicates},"
        f" rejected {len(result.rejected)}"
    )
    for line, reason in result.rejected[:20]:
        typer.echo(f"  line {line}: {reason}", err=True)


app.command("report")(report_command)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; failures are one line on stderr and a non-zero exit code."""
    from iconiq.cli import base

    args = sys.argv[1:] if argv is None else argv
    try:
        return base.run(app, args, "iconiq-server")
    except base.CommandLineError as exc:
        sys.stderr.write(f"iconiq-server: error: {exc.message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except IconiqError as exc:
        sys.stderr.write(f"iconiq-server: error: {exc.message}\n")
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback
        if show_tracebacks():
            raise
        sys.stderr.write(f"iconiq-server: error: {type(exc).__name__}: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
