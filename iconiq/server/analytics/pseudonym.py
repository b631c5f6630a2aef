"""Install pseudonyms: what every analytics surface shows instead of an ``install_id``.

An install id is all ``DELETE /v1/installs/{id}`` asks for, so showing it would
let anyone who sees the dashboard (or a CSV of it) erase that install. Analytics
show ``i-`` and 16 hex digits of HMAC-SHA256(key, install_id) instead: stable
(the same install has the same pseudonym on every page, in every export and in
every server process) and not reversible without the key.

The key is 32 random bytes made by the migration ``analytics_0009_pseudonym_key``
and kept in the database (``an_secrets``), so it survives restarts and is
shared by every server on that database; it never leaves the server.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from iconiq.server.analytics.db import Db

KEY_NAME = "install_pseudonym_key"


def key(db: Db) -> bytes:
    """The database's pseudonym key."""
    value = db.scalar("SELECT value FROM an_secrets WHERE name = ?", [KEY_NAME])
    if not value:
        raise RuntimeError("no install pseudonym key: run iconiq-server migrate")
    return bytes.fromhex(str(value))


def pseudonym(secret: bytes, install_id: Any) -> str:
    """The stable pseudonym of one install id (any case, str or UUID)."""
    digest = hmac.new(secret, str(install_id).lower().encode(), hashlib.sha256).hexdigest()
    return f"i-{digest[:16]}"
