"""``ROLLUPS``: every rollup, in the order rebuild, fold and expire run them.

A rollup reads only the rollups listed before it (``an_install_weeks``,
``an_first_seen``, ``an_first_days`` and ``an_active`` are derived from
``an_install_days``; ``an_first_days`` also from ``an_first_seen``), so
``rebuild``, ``remove`` and ``expire`` run in this order and ``add`` in the
reverse one: ``an_active``'s "is this install new in the period?" must see the
per-install tables before the batch is added and after it is removed.
"""

from __future__ import annotations

from iconiq.server.analytics.rollups import (
    an_active,
    an_daily,
    an_first_days,
    an_first_seen,
    an_hist,
    an_install_days,
    an_install_spans,
    an_install_totals,
    an_install_weeks,
)
from iconiq.server.analytics.rollups.base import Rollup

ROLLUPS: tuple[Rollup, ...] = (
    an_daily,
    an_hist,
    an_install_days,
    an_install_weeks,
    an_install_totals,
    an_install_spans,
    an_first_seen,
    an_first_days,
    an_active,
)
TABLES = tuple(rollup.NAME for rollup in ROLLUPS)
