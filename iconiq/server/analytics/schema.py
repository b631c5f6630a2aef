"""Rollup tables: small pre-aggregates of ``events`` that every dashboard panel reads.

Time is cut in UTC days and Monday-based weeks (``iconiq.server.calendar``).

- ``an_daily``: events, failures and prompt-length sums per (dim, day, version,
  command, value); ``dim`` is ``total`` (value ``''``) or one breakdown:
  error_type, output_format, model_used, ci, country, os, hour, flag.
- ``an_hist``: counts of execution/API times in fixed logarithmic buckets
  (``an_buckets``: eight per doubling), per (metric, day, version, command).
- ``an_install_days``: events per (install, day, version, command).
- ``an_install_weeks``: events per (install, week).
- ``an_active``: distinct active installs per day (``d``), week (``w``), and
  day by version (``v``), by command (``c``) and by both (``x``), and week by
  version (``wv``), by command (``wc``) and by both (``wx``).
- ``an_first_seen``: each install's first day with a stored event.
- ``an_first_days``: the (install, day, version, command) keys of ``an_install_days``
  on each install's first day (new installs by version or command).

Triggers (``triggers.py``) append every insert and delete to ``an_pending``, which
``fold`` applies to all of them, exactly (every read folds first);
``rollups.rebuild`` recomputes them from ``events``.

The tables and triggers are created by the server migrations
(``iconiq.server.storage.migrations``), whose SQL is frozen; changing a table here
means a new migration there.
"""

from __future__ import annotations

import math

BUCKETS_PER_DOUBLING = 8
MAX_DOUBLINGS = 32  # buckets reach past 2**32 ms (seven weeks): every int32 fits

TABLES = (
    "an_daily",
    "an_hist",
    "an_install_days",
    "an_install_weeks",
    "an_active",
    "an_first_seen",
    "an_first_days",
)

# Dimensions of ``an_daily`` besides ``total``: name -> SQL value over a row alias ``{r}``.
# A NULL value means "not counted in this breakdown".
DIMENSIONS: dict[str, str] = {
    "error_type": "CASE WHEN {r}.success THEN NULL ELSE {r}.error_type END",
    "output_format": "{r}.output_format",
    "model_used": "{r}.model_used",
    "ci": "CASE WHEN {r}.ci THEN 'ci' WHEN NOT {r}.ci THEN 'interactive' ELSE 'unknown' END",
    "country": "COALESCE({r}.country, '')",
    "os": "{r}.os",
    "hour": "CAST((({r}.timestamp / 3600000) % 24) AS TEXT)",
}


def bucket_bounds() -> list[int]:
    """Lower bounds (ms) of the duration buckets, ascending, starting at 0."""
    top = BUCKETS_PER_DOUBLING * MAX_DOUBLINGS
    return sorted({int(2 ** (k / BUCKETS_PER_DOUBLING)) - 1 for k in range(top + 1)})


def bucket_value(lo: int, hi: int | None) -> float:
    """The value reported for a bucket [lo, hi): exact for one-wide buckets, else the
    geometric middle (at most ~4.5 % away from any value inside)."""
    if hi is None or hi - lo <= 1:
        return float(lo)
    return math.sqrt((lo + 1) * hi) - 1
