"""The dashboard's templates and static files, served from the installed package.

Static URLs carry a digest of the file (``/-/static/<digest>/chart.umd.js``), so
they can be cached forever and change when the file does. Only names listed in
the package's ``static`` folder are served: no path is ever joined from input.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from typing import Any

from fastapi.responses import Response
from jinja2 import Environment, PackageLoader, select_autoescape

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


@cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("iconiq.server.dashboard", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["static_url"] = static_url
    return env


@cache
def _files() -> dict[str, bytes]:
    """Every static file by name (a fixed set read once from the package)."""
    folder = resources.files("iconiq.server.dashboard").joinpath("static")
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and any(entry.name.endswith(s) for s in _TYPES)
    }


@cache
def digest(name: str) -> str:
    return hashlib.sha256(_files()[name]).hexdigest()[:12]


def static_url(name: str) -> str:
    return f"/-/static/{digest(name)}/{name}"


def static_response(given_digest: str, name: str) -> Response:
    files = _files()
    if name not in files:  # also refuses "../x", "a/b", "%2e%2e": only known names pass
        return Response("not found\n", status_code=404, media_type="text/plain")
    suffix = name[name.rfind(".") :]
    cache_control = (
        "public, max-age=31536000, immutable" if given_digest == digest(name) else "no-cache"
    )
    return Response(
        files[name],
        media_type=_TYPES[suffix],
        headers={"Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"},
    )


def render(template: str, **context: Any) -> str:
    return _env().get_template(template).render(**context)
