"""Start-up stays light: help, version and config never import openai (or pydantic, rich).

Each case runs in a fresh interpreter and reports which heavy modules the
command loaded; ``--model local`` must not import openai either.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("openai", "httpx", "pydantic", "rich", "PIL")
_PROBE = """
import json, sys
from iconiq.cli.main import main
code = main(json.loads(sys.argv[1]))
print(json.dumps({"code": code, "loaded": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)


def _loaded(argv: list[str], env: dict[str, str], cwd: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(argv)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] == 0, result.stderr
    return list(report["loaded"])


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["icon", "--help"],
        ["config", "--help"],
        ["config", "path"],
        ["config", "list", "--all"],
        ["config", "set", "icon.model", "local"],
        ["config", "get", "openai.api_key"],
        ["config", "unset", "icon.model"],
    ],
)
def test_light_commands_import_nothing_heavy(
    argv: list[str], cli_env: dict[str, str], tmp_path: Path, iconiq_home: Path
) -> None:
    (iconiq_home / "config.toml").write_text('[openai]\napi_key = "sk-abcdefghijkl"\n')
    assert _loaded(argv, cli_env, tmp_path) == []


def test_help_with_telemetry_on_imports_nothing_heavy(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {k: v for k, v in cli_env.items() if k != "ICONIQ_TELEMETRY_DISABLED"}
    assert "openai" not in _loaded(["--help"], env, tmp_path)
    assert "pydantic" not in _loaded(["--version"], env, tmp_path)


def test_local_model_never_imports_openai(cli_env: dict[str, str], tmp_path: Path) -> None:
    loaded = _loaded(["icon", "-p", "x", "-m", "local", "--size", "256x256"], cli_env, tmp_path)
    assert "openai" not in loaded and "httpx" not in loaded
    assert "PIL" in loaded  # the probe does see imports


def test_version(cli_env: dict[str, str], tmp_path: Path) -> None:
    from iconiq import __version__

    exe = Path(sys.executable).parent / "iconiq"
    result = subprocess.run(
        [str(exe), "--version"], env=cli_env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0
    assert result.stdout == f"iconiq {__version__}\n"
