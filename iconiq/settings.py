"""Settings: one TOML file (``paths.config_path()``), dotted keys.

Known keys are declared in ``KNOWN`` with their type; secrets are stored with
file mode 0600 and only ever shown masked.

Telemetry reads this module on the recording path of every command that has a
config file, so it imports only ``os`` at load time: ``tomllib`` when a file is
read, ``tomli_w`` when one is written (no ``dataclasses``, whose import pulls in
``inspect``: about 9 ms of CPU).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from iconiq import paths
from iconiq.errors import InvalidInput, OutputError

if TYPE_CHECKING:
    from pathlib import Path


class Setting:
    """One known key: its type, its help line, whether it is a secret (immutable)."""

    __slots__ = ("key", "kind", "help", "secret")

    key: str
    kind: type
    help: str
    secret: bool

    def __init__(self, key: str, kind: type, help: str, secret: bool = False) -> None:  # noqa: A002
        for name, value in (("key", key), ("kind", kind), ("help", help), ("secret", secret)):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Setting is immutable: cannot set {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Setting):
            return NotImplemented
        return (self.key, self.kind, self.help, self.secret) == (
            other.key, other.kind, other.help, other.secret
        )

    def __hash__(self) -> int:
        return hash((self.key, self.kind, self.help, self.secret))

    def __repr__(self) -> str:
        return (
            f"Setting(key={self.key!r}, kind={self.kind.__name__}, help={self.help!r},"
            f" secret={self.secret})"
        )


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
    import tomllib

    where = path or paths.config_path_str()  # a string: no pathlib on the recording path
    try:
        with open(where, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"settings file {where} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise OutputError(f"cannot read settings file {where}: {exc.strerror}") from exc


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
