"""The one place that decides where iconiq keeps its files.

``ICONIQ_HOME`` puts everything (config and telemetry spool) in one directory;
without it, config lives in the platform's user config dir and data in its user
data dir. Everything else builds on these functions; tests point ``ICONIQ_HOME``
at a temporary directory.

The ``*_str`` functions give the same places as plain strings, for the recording
path (no ``pathlib``). On Linux and macOS the two directories are resolved here,
with platformdirs' rules (an absolute ``XDG_CONFIG_HOME``/``XDG_DATA_HOME``, else ``~/.config`` and
``~/.local/share``, or ``~/Library/Application Support`` on macOS):
importing platformdirs costs a program that records an event 5-40 ms (its unix
module loads tempfile, shutil, bz2 and lzma), more than the recording itself.
Anywhere else, or when ``HOME`` is not an absolute path, platformdirs decides;
``tests/cli/test_paths.py`` checks both agree.
"""

from __future__ import annotations

import os
import sys

# ``typing.TYPE_CHECKING`` without importing typing: the recording path uses the
# ``*_str`` functions below, so a host that records an event does not load ``pathlib``
# (and with it ``re``, ``fnmatch``, ``urllib.parse``: ~3-10 ms of CPU here).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

APP_NAME = "iconiq"


def _home_override() -> str | None:
    value = os.environ.get("ICONIQ_HOME", "").strip()
    return os.path.expanduser(value) if value else None


def _user_dir(xdg: str, linux_default: str) -> str | None:
    """The user dir platformdirs would give on Linux or macOS, or None elsewhere."""
    if sys.platform.startswith("linux"):
        default = linux_default
    elif sys.platform == "darwin":
        default = "Library/Application Support"
    else:
        return None
    value = os.environ.get(xdg, "")
    if value.startswith("/"):
        return os.path.join(value, APP_NAME)
    home = os.environ.get("HOME", "")
    return os.path.join(home, default, APP_NAME) if home.startswith("/") else None


def config_dir_str() -> str:
    override = _home_override()
    if override is not None:
        return override
    found = _user_dir("XDG_CONFIG_HOME", ".config")
    if found is not None:
        return found
    import platformdirs

    return str(platformdirs.user_config_path(APP_NAME))


def data_dir_str() -> str:
    override = _home_override()
    if override is not None:
        return override
    found = _user_dir("XDG_DATA_HOME", ".local/share")
    if found is not None:
        return found
    import platformdirs

    return str(platformdirs.user_data_path(APP_NAME))


def config_path_str() -> str:
    return os.path.join(config_dir_str(), "config.toml")


def telemetry_db_str() -> str:
    return os.path.join(data_dir_str(), "telemetry.db")


def config_dir() -> Path:
    from pathlib import Path

    return Path(config_dir_str())


def data_dir() -> Path:
    from pathlib import Path

    return Path(data_dir_str())


def config_path() -> Path:
    from pathlib import Path

    return Path(config_path_str())


def telemetry_db_path() -> Path:
    from pathlib import Path

    return Path(telemetry_db_str())
