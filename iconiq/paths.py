"""The one place that decides where iconiq keeps its files.

``ICONIQ_HOME`` puts everything (config and telemetry spool) in one directory;
without it, config lives in the platform's user config dir and data in its user
data dir. Everything else builds on these functions; tests point ``ICONIQ_HOME``
at a temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "iconiq"


def _home_override() -> Path | None:
    value = os.environ.get("ICONIQ_HOME", "").strip()
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    override = _home_override()
    if override is not None:
        return override
    import platformdirs

    return platformdirs.user_config_path(APP_NAME)


def data_dir() -> Path:
    override = _home_override()
    if override is not None:
        return override
    import platformdirs

    return platformdirs.user_data_path(APP_NAME)


def config_path() -> Path:
    return config_dir() / "config.toml"


def telemetry_db_path() -> Path:
    return data_dir() / "telemetry.db"
