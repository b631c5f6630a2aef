"""``ci_provider`` and ``invoked_by``: what a real ``iconiq`` process records under real
environments, parents (a shell, a process named like a build tool, one named like
nothing on the list) and a real pseudo-terminal; never a name outside the lists."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from iconiq.telemetry import event as client_event
from iconiq.telemetry.schema import CI_PROVIDERS, INVOKERS

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")

# Variables that would decide the answer if the test runner itself set them.
CONTEXT_VARS = (
    *client_event.CI_VARS, "MAKELEVEL", "MAKEFLAGS", "npm_config_user_agent",
    "XCODE_VERSION_ACTUAL", "XCODE_PRODUCT_BUILD_VERSION",
)  # fmt: skip
ICONIQ = [sys.executable, "-m", "iconiq", "config", "path"]
# Runs argv[2:] as a child of a process named argv[1] (prctl PR_SET_NAME = 15).
RENAMED_PARENT = (
    "import ctypes, subprocess, sys\n"
    "ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)\n"
    "sys.exit(subprocess.run(sys.argv[2:]).returncode)\n"
)


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CONTEXT_VARS}
    env["ICONIQ_TELEMETRY_DEBUG"] = "1"
    env.update(extra or {})
    return env


def _recorded(stderr: str) -> dict[str, Any]:
    """The one event ``ICONIQ_TELEMETRY_DEBUG`` printed."""
    [line] = [x for x in stderr.splitlines() if x.startswith("iconiq telemetry: {")]
    event: dict[str, Any] = json.loads(line[line.index("{") :])
    assert event["ci_provider"] is None or event["ci_provider"] in CI_PROVIDERS
    assert event["invoked_by"] in INVOKERS
    return event


def _run(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return _recorded(done.stderr)


@pytest.fixture(autouse=True)
def _noticed(noticed: Path) -> None:
    """The first-run notice was shown, so commands record."""


@pytest.mark.parametrize(("variable", "provider"), client_event.CI_PROVIDER_VARS)
def test_each_ci_service_is_named_by_its_variable(variable: str, provider: str) -> None:
    event = _run(ICONIQ, _env({variable: "true"}))
    assert event["ci"] is True and event["ci_provider"] == provider


@pytest.mark.parametrize(
    ("extra", "ci", "provider"),
    [
        ({}, False, None),
        ({"TRAVIS": "true"}, True, "other"),
        ({"CI": "true"}, True, "other"),
        ({"CI": "false", "GITHUB_ACTIONS": "true"}, False, None),
        ({"GITLAB_CI": "", "CI": "1"}, True, "other"),
    ],
)
def test_other_ci_and_no_ci(extra: dict[str, str], ci: bool, provider: str | None) -> None:
    event = _run(ICONIQ, _env(extra))
    assert (event["ci"], event["ci_provider"]) == (ci, provider)


@pytest.mark.parametrize(
    ("extra", "invoker"),
    [
        ({"MAKELEVEL": "1"}, "make"),
        ({"npm_config_user_agent": "npm/10.8.1 node/v20.15.0 linux x64 workspaces/false"}, "npm"),
        ({"npm_config_user_agent": "yarn/1.22.22 npm/? node/v20.15.0 linux x64"}, "yarn"),
        ({"npm_config_user_agent": "pnpm/9.4.0 npm/? node/v20.15.0 linux x64"}, "pnpm"),
        ({"npm_config_user_agent": "bun/1.1.18 npm/? node/v22.3.0 linux x64"}, "other"),
        ({"XCODE_VERSION_ACTUAL": "1600"}, "xcodebuild"),
        ({}, "other"),  # the parent is pytest's Python: not a shell, no terminal
    ],
)
def test_tools_found_from_their_variables(extra: dict[str, str], invoker: str) -> None:
    assert _run(ICONIQ, _env(extra))["invoked_by"] == invoker


def test_a_shell_script_is_script() -> None:
    # "; true" keeps the shell alive as the parent (no exec of the last command).
    command = " ".join(ICONIQ) + "; true"
    assert _run(["sh", "-c", command], _env())["invoked_by"] == "script"


@pytest.mark.parametrize(
    ("parent", "invoker"),
    [("make", "make"), ("gmake", "make"), ("gradle", "gradle"), ("xcodebuild", "xcodebuild"),
     ("npm", "npm"), ("acme-secret-9", "other")],
)  # fmt: skip
def test_the_parent_process_name_is_mapped_onto_the_list(parent: str, invoker: str) -> None:
    argv = [sys.executable, "-c", RENAMED_PARENT, parent, *ICONIQ]
    done = subprocess.run(
        argv, env=_env(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    event = _recorded(done.stderr)
    assert event["invoked_by"] == invoker
    if invoker == "other":  # a name outside the list never leaves the process
        assert parent not in json.dumps(event)


def test_a_terminal_is_terminal() -> None:
    primary, secondary = pty.openpty()
    try:
        done = subprocess.run(
            ICONIQ, env=_env(), stdin=secondary, stdout=secondary, stderr=subprocess.PIPE,
            text=True, timeout=60,
        )  # fmt: skip
    finally:
        os.close(secondary)
        os.close(primary)
    assert done.returncode == 0, done.stderr
    assert _recorded(done.stderr)["invoked_by"] == "terminal"
