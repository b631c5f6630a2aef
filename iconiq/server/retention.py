"""Retention: delete events older than the retention window, now and periodically.

The periodic task runs inside every server; several instances may run it at
once safely (PostgreSQL: whoever holds the advisory lock does the work, the
others skip; SQLite: one writer at a time).
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.concurrency import run_in_threadpool

from iconiq.server.config import ServerSettings
from iconiq.server.storage.base import Store

log = logging.getLogger("iconiq.server.retention")


def cutoff_ms(settings: ServerSettings, now_ms: int | None = None) -> int:
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return now - settings.retention_ms


def purge(store: Store, settings: ServerSettings, now_ms: int | None = None) -> int:
    """Delete every expired event now; return how many."""
    return store.purge_expired(cutoff_ms(settings, now_ms))


async def run_periodically(store: Store, settings: ServerSettings) -> None:
    """Purge at start-up and then every ``purge_interval`` seconds, until cancelled."""
    while True:
        try:
            deleted = await run_in_threadpool(purge, store, settings)
            if deleted:
                log.info("retention: deleted %d expired events", deleted)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried at the next interval
            log.warning("retention run failed: %s", type(exc).__name__)
        await asyncio.sleep(settings.purge_interval)
