"""Analytics schema (rollup tables and what keeps them exact), applied after core storage."""

from __future__ import annotations

from iconiq.server.storage.migration import Migration

MIGRATIONS: list[Migration] = []
