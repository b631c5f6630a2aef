"""The one place that decides where iconiq keeps its files.

``ICONIQ_HOME`` puts everything (config and telemetry spool) in one directory;
without it, config lives in the platform's user config dir and data in its user
data dir. Everything else builds on these functions; tests point ``ICONIQ_HOME``
at a temporary directory.

On Linux and macOS the two directories are resolved here, with platformdirs'
rules (an absolute ``XDG_CONFIG_HOME``/``XDG_DATA_HOME``, else ``~/.config`` and
``~/.local/share``, or ``~/Library/Application Support`` on macOS):
importing platformdirs costs a program that records an event 5-40 ms (its unix
module loads tempfile, shutil, bz2 and lzma), more than the recording itself.
Anywhere else, or when ``HOME`` is not an absolute path, platformdirs decides;
``tests/cli/test_paths.py`` checks both agree.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "iconiq"


def _home_override() -> Path | None:
    value = os.environ.get("ICONIQ_HOME", "").strip()
    return Path(value).expanduser() if value else None


def _user_dir(xdg: str, linux_default: str) -> Path | None:
    """The user dir platformdirs would give on Linux or macOS, or None elsewhere."""
    if sys.platform.startswith("linux"):
        default = linux_default
    elif sys.platform == "darwin":
        default = "Library/Application Support"
    else:
        return None
    value = os.environ.get(xdg, "")
    if value.startswith("/"):
        return Path(value, APP_NAME)
    home = os.environ.get("HOME", "")
    return Path(home, default, APP_NAME) if home.startswith("/") else None


def config_dir() -> Path:
    override = _home_override()
    if override is not None:
        return override
    found = _user_dir("XDG_CONFIG_HOME", ".config")
    if found is not None:
        return found
    import platformdirs

    return platformdirs.user_config_path(APP_NAME)


def data_dir() -> Path:
    override = _home_override()
    if override is not None:
        return override
    found = _user_dir("XDG_DATA_HOME", ".local/share")
    if found is not None:
        return found
    import platformdirs

    return platformdirs.user_data_path(APP_NAME)


def config_path() -> Path:
    return config_dir() / "config.toml"


def telemetry_db_path() -> Path:
    return data_dir() / "telemetry.db"
