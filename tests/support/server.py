"""A real ``iconiq-server serve`` subprocess on 127.0.0.1, for tests and demos.

    with running_server() as srv:                      # SQLite file in a temp dir
        httpx.post(srv.base_url + "/v1/batch", json={"events": [...]})
        srv.admin_token, srv.database_url, srv.log_path

    with fresh_database() as url, running_server(database_url=url) as srv:   # PostgreSQL
        ...

The server binds an ephemeral port, ``running_server`` waits for ``/healthz``
and stops the process afterwards (SIGTERM, then SIGKILL). ``admin_token=""``
starts it without ``ICONIQ_ADMIN_TOKEN``: the handle's token is then the one the
server made and printed in its sign-in URL. ``env`` adds
environment variables for the server (e.g. ``ICONIQ_RATE_LIMIT``); by default
rate limiting is off (``ICONIQ_RATE_LIMIT=off``) so tests may send freely.
The server's stdout and stderr go to ``log_path``.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


@dataclass(frozen=True)
class ServerHandle:
    base_url: str
    database_url: str
    admin_token: str
    log_path: Path
    pid: int

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def headers(self) -> dict[str, str]:
        """The admin Authorization header."""
        return {"Authorization": f"Bearer {self.admin_token}"}


def _server_command() -> list[str]:
    return [sys.executable, "-m", "iconiq.server.cli"]


@contextmanager
def running_server(
    database_url: str | None = None,
    *,
    admin_token: str | None = None,
    env: Mapping[str, str] | None = None,
    directory: Path | None = None,
    timeout: float = 30.0,
    launcher: Sequence[str] | None = None,
    workers: int = 1,
) -> Iterator[ServerHandle]:
    """Start ``iconiq-server serve`` on 127.0.0.1:<ephemeral>, yield its handle, stop it.

    Files (the default SQLite database, the log) go to ``directory`` when given (kept
    afterwards, e.g. to read the log once the server stopped), else to a temporary one.
    ``launcher`` replaces the command run before ``serve`` (default: this Python running
    ``-m iconiq.server.cli``).
    """
    with tempfile.TemporaryDirectory(prefix="iconiq-server-") as tmp:
        work = Path(directory or tmp)
        work.mkdir(parents=True, exist_ok=True)
        url = database_url or f"sqlite:///{work / 'server.db'}"
        token = secrets.token_urlsafe(24) if admin_token is None else admin_token
        port_file = work / "port"
        log_path = work / "server.log"
        child_env = dict(os.environ)
        child_env.update(
            {
                "ICONIQ_RATE_LIMIT": "off",
                "ICONIQ_HOME": str(work / "home"),
                "PYTHONUNBUFFERED": "1",
                "NO_PROXY": "*",
            }
        )
        child_env.pop("ICONIQ_DATABASE_URL", None)
        child_env.pop("ICONIQ_ADMIN_TOKEN", None)
        if token:
            child_env["ICONIQ_ADMIN_TOKEN"] = token
        child_env.update(env or {})
        args = [*(launcher or _server_command()), "serve", "--host", "127.0.0.1", "--port", "0"]
        args += ["--database", url, "--port-file", str(port_file), "--workers", str(workers)]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                args, env=child_env, stdout=log, stderr=subprocess.STDOUT, cwd=work
            )
        try:
            base_url = _wait_ready(proc, port_file, log_path, timeout)
            if not token:
                token = _printed_token(log_path)
            yield ServerHandle(base_url, url, token, log_path, proc.pid)
        finally:
            _stop(proc)


@contextmanager
def seeded_server(work: Path, rows: Sequence[Any]) -> Iterator[ServerHandle]:
    """``iconiq-server serve`` on a SQLite database in ``work`` that already holds
    ``rows`` (``iconiq.server.events.Row``), migrated and inserted through the store."""
    from iconiq.server.storage.base import open_store

    url = f"sqlite:///{work / 'seeded.db'}"
    store = open_store(url)
    try:
        store.migrate()
        store.insert(list(rows))
    finally:
        store.close()
    with running_server(database_url=url, directory=work) as srv:
        yield srv


def signed_in(
    server: ServerHandle, browser: Any, width: int, ready: str = "#panel-summary"
) -> tuple[Any, list[str]]:
    """A Chromium page ``width`` px wide, signed in to ``server`` with its admin token and
    showing the overview (``ready`` drawn); the list the page's console errors and
    uncaught exceptions go to, as they happen."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(server.base_url + "/login")
    page.fill("#token", server.admin_token)
    page.click("button[type=submit]")
    page.wait_for_selector(ready)
    return page, problems


def _wait_ready(
    proc: subprocess.Popen[bytes], port_file: Path, log_path: Path, timeout: float
) -> str:
    deadline = time.monotonic() + timeout
    base_url: str | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = log_path.read_text(errors="replace")
            raise RuntimeError(f"iconiq-server exited with {proc.returncode}:\n{log}")
        if base_url is None and port_file.exists():
            base_url = f"http://127.0.0.1:{int(port_file.read_text())}"
        if base_url is not None:
            try:
                if httpx.get(base_url + "/healthz", timeout=2).status_code == 200:
                    return base_url
            except httpx.TransportError:
                pass
        time.sleep(0.05)
    _stop(proc)
    raise RuntimeError(
        f"iconiq-server not ready after {timeout}s:\n{log_path.read_text(errors='replace')}"
    )


def _printed_token(log_path: Path) -> str:
    """The token in the sign-in URL a server without ICONIQ_ADMIN_TOKEN printed."""
    found = re.search(r"/login\?token=(\S+)", log_path.read_text(errors="replace"))
    if found is None:
        raise RuntimeError(f"no sign-in URL in the server log:\n{log_path.read_text()}")
    return found.group(1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def stored(server: ServerHandle, ids: list[str]) -> dict[str, int]:
    """How many times a SQLite-backed server's database holds each of these event ids."""
    import json
    import sqlite3

    db = sqlite3.connect(server.database_url.removeprefix("sqlite:///"))
    try:
        rows = db.execute(
            "SELECT event_id, count(*) FROM events WHERE event_id IN (SELECT value FROM"
            " json_each(?)) GROUP BY event_id",
            (json.dumps(ids),),
        ).fetchall()
    finally:
        db.close()
    return {event_id: n for event_id, n in rows}
