"""``an_first_days``: the install-days of each install's first day, so new installs by version
or command are counted from one small table instead of a join per install.

A row (install, day, version, command) is a key of ``an_install_days`` whose day is the
install's ``an_first_seen.first_day``. Whenever an install's install-days or first day
may have changed (a fold over its events, retention), its rows are recomputed from
those two tables with ``first_days_sql``.
"""

from __future__ import annotations


def first_days_sql(where: str = "") -> str:
    """``INSERT`` of the ``an_first_days`` rows of every install, or of those matching
    ``where`` (a SQL condition on ``an_first_seen s``, e.g. ``s.install_id IN (…)``)."""
    return (
        "INSERT INTO an_first_days (install_id, day, version, command)"
        " SELECT d.install_id, d.day, d.version, d.command FROM an_first_seen s"
        " JOIN an_install_days d ON d.install_id = s.install_id AND d.day = s.first_day"
        + (f" WHERE {where}" if where else "")
    )
