"""Rollups: small pre-aggregates of ``events`` that every dashboard panel reads, one
module per table.

Time is cut in UTC days and Monday-based weeks (``iconiq.server.calendar``).

- ``an_daily``: events, failures and prompt-length sums per (dim, day, version,
  command, value), ``dim`` being ``total`` or a breakdown (``DIMENSIONS``) or ``flag``.
- ``an_hist``: execution/API time counts in logarithmic buckets per (metric, day,
  version, command).
- ``an_install_days``: events per (install, day, version, command).
- ``an_install_weeks``: events per (install, week).
- ``an_install_totals``: events per install, all days together.
- ``an_first_seen``: each install's first day with a stored event.
- ``an_first_days``: the install-day keys of each install's first day.
- ``an_active``: distinct active installs per day, week, and day and week by
  version/command.
- ``pending``: the ``an_pending`` queue the triggers on ``events`` append to.
- ``folding``: ``fold`` applies the queue to every rollup, exactly (every read folds first).
- ``maintenance``: ``rebuild`` from ``events``, ``expire`` for retention,
  ``suspended_triggers`` for bulk loads.

Each rollup module is a ``Rollup`` (``base``): ``NAME``, ``COLUMNS`` and
``rows_from(dialect, src)`` (one SELECT of its rows from any event source, e.g. a
filtered one), ``rebuild``, ``add``, ``remove`` and ``expire``; ``tables.ROLLUPS``
lists them in the order rebuild, fold and expire run them.

Adding a rollup:

1. a module here with the five functions and a docstring saying what it holds
   (``an_install_weeks`` is the smallest example), using the shared pieces of ``base``;
2. an entry in ``ROLLUPS`` after every rollup it reads;
3. a new migration in ``iconiq.server.storage.migrations.sqlite`` and ``.postgres``
   creating the table (frozen SQL, written out, not calling this module) and filling it
   (``INSERT ... SELECT`` as in ``rebuild``);
4. ``tests/analytics/test_rollup_exactness.py`` then checks it against a rebuild
   after every kind of change, and ``test_rollups.py`` its ``rows_from``.
"""

from __future__ import annotations

from iconiq.server.analytics.rollups.an_daily import DIMENSIONS
from iconiq.server.analytics.rollups.an_hist import bucket_bounds, bucket_value
from iconiq.server.analytics.rollups.base import Rollup
from iconiq.server.analytics.rollups.folding import fold, fold_for_read
from iconiq.server.analytics.rollups.maintenance import expire, rebuild, suspended_triggers
from iconiq.server.analytics.rollups.pending import PENDING_COLUMNS
from iconiq.server.analytics.rollups.tables import ROLLUPS, TABLES

__all__ = [
    "DIMENSIONS",
    "PENDING_COLUMNS",
    "ROLLUPS",
    "TABLES",
    "Rollup",
    "bucket_bounds",
    "bucket_value",
    "expire",
    "fold",
    "fold_for_read",
    "rebuild",
    "suspended_triggers",
]
