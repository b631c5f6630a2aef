"""Settings: one TOML file (``paths.config_path()``), dotted keys.

Known keys are declared in ``KNOWN`` with their type; secrets are stored with
file mode 0600 and only ever shown masked.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iconiq import paths
from iconiq.errors import InvalidInput, OutputError


@dataclass(frozen=True)
class Setting:
    key: str
    kind: type
    help: str
    secret: bool = False


KNOWN: dict[str, Setting] = {
    s.key: s
    for s in (
        Setting("openai.api_key", str, "OpenAI API key (OPENAI_API_KEY wins)", secret=True),
        Setting("openai.base_url", str, "OpenAI-compatible base URL (OPENAI_BASE_URL wins)"),
        Setting("icon.model", str, "default model for `iconiq icon`"),
        Setting("telemetry.enabled", bool, "send anonymous usage telemetry"),
        Setting("telemetry.endpoint", str, "telemetry collection server base URL"),
    )
}


def mask(value: str) -> str:
    """Show a secret as its first 3 and last 4 characters at most."""
    if len(value) <= 8:
        return "*" * len(value)
    return f"{value[:3]}…{value[-4:]}"


def load(path: Path | None = None) -> dict[str, Any]:
    """Read the whole settings file as a nested dict ({} when it does not exist)."""
    path = path or paths.config_path()
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"settings file {path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise OutputError(f"cannot read settings file {path}: {exc.strerror}") from exc


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, full + "."))
        else:
            out[full] = value
    return out


def get(key: str, default: Any = None, path: Path | None = None) -> Any:
    node: Any = load(path)
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def parse_value(key: str, raw: str) -> Any:
    setting = KNOWN.get(key)
    if setting is None:
        raise InvalidInput(f"unknown setting {key!r}; known: {', '.join(sorted(KNOWN))}")
    if setting.kind is bool:
        lowered = raw.strip().lower()
        if lowered in {"true", "1", "yes", "on"}:
            return True
        if lowered in {"false", "0", "no", "off"}:
            return False
        raise InvalidInput(f"{key} takes true or false, not {raw!r}")
    if not raw.strip():
        raise InvalidInput(f"{key} cannot be empty (use `iconiq config unset {key}`)")
    return raw


def _write(data: dict[str, Any], path: Path) -> None:
    import tomli_w

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            tomli_w.dump(data, f)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"cannot write settings file {path}: {exc.strerror}") from exc


def set_value(key: str, value: Any, path: Path | None = None) -> None:
    path = path or paths.config_path()
    data = load(path)
    node = data
    *parents, leaf = key.split(".")
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise InvalidInput(f"setting {part!r} is a value, not a table")
        node = child
    node[leaf] = value
    _write(data, path)


def unset(key: str, path: Path | None = None) -> bool:
    """Remove a key; True when it was there."""
    path = path or paths.config_path()
    data = load(path)
    node: Any = data
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or leaf not in node:
        return False
    del node[leaf]
    _write(data, path)
    return True
