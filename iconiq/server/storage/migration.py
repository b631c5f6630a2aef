"""A schema migration: a name recorded once applied, and its SQL per dialect.

Migration lists only grow. The runner applies, in order, the core storage
migrations and then the analytics ones (``iconiq.server.analytics.migrations``),
each inside a transaction together with its record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# SQL text (may hold several statements) or a function given the open connection.
Step = str | Callable[[Any], None]


@dataclass(frozen=True)
class Migration:
    name: str
    sqlite: Step
    postgres: Step
