"""Dashboard sign-in sessions: a signed cookie that expires, and sign-out that sticks.

The cookie ``iconiq_session`` is ``<session id>.<expiry>.<signature>``: a random
id, the Unix time (seconds) it stops being valid, and an HMAC-SHA256 of both
under a key derived from the admin token (so changing the token ends every
session). Nothing is kept in process memory: signing out records the id in the
``revoked_sessions`` table until its expiry, which every server process sharing
the database consults, and expired records are pruned on the next sign-out.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any

COOKIE_NAME = "iconiq_session"
MAX_COOKIE = 200  # longer values are not ours: refused before any work


def _key(token: str) -> bytes:
    return hmac.new(token.encode(), b"iconiq-session-v1", hashlib.sha256).digest()


def _sign(token: str, payload: str) -> str:
    return hmac.new(_key(token), payload.encode(), hashlib.sha256).hexdigest()


def new_cookie(token: str, max_age: int, now: float | None = None) -> str:
    """A fresh session cookie value valid for ``max_age`` seconds."""
    expires = int(now if now is not None else time.time()) + max_age
    payload = f"{secrets.token_urlsafe(18)}.{expires}"
    return f"{payload}.{_sign(token, payload)}"


def parse(token: str, value: str, now: float | None = None) -> tuple[str, int] | None:
    """``(session id, expiry)`` of a well-signed, unexpired cookie, else None."""
    if not value or len(value) > MAX_COOKIE:
        return None
    sid, _, rest = value.partition(".")
    expires, _, signature = rest.partition(".")
    if not sid or not expires.isascii() or not expires.isdigit():
        return None
    if not hmac.compare_digest(signature.encode(), _sign(token, f"{sid}.{expires}").encode()):
        return None
    if int(expires) <= (now if now is not None else time.time()):
        return None
    return sid, int(expires)


def is_revoked(store: Any, sid: str) -> bool:
    with store.db() as db:
        found = db.scalar("SELECT 1 FROM revoked_sessions WHERE session_id = ?", [sid])
    return found is not None


def revoke(store: Any, sid: str, expires: int) -> None:
    """End a session for every server process; prune records of expired ones."""
    with store.db() as db:
        db.execute("DELETE FROM revoked_sessions WHERE expires_at < ?", [time.time()])
        db.execute(
            "INSERT INTO revoked_sessions (session_id, expires_at) VALUES (?, ?)"
            " ON CONFLICT (session_id) DO NOTHING",
            [sid, expires],
        )
