"""Running the real ``iconiq`` console script in a subprocess, with a fake OpenAI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.openai_server import OpenAIServer

ICONIQ = Path(sys.executable).parent / "iconiq"
Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli_env() -> dict[str, str]:
    """The test's environment (isolated home, no OpenAI key), telemetry off."""
    env = dict(os.environ)
    env["ICONIQ_TELEMETRY_DISABLED"] = "1"
    env.pop("COLUMNS", None)
    return env


@pytest.fixture
def iconiq(cli_env: dict[str, str], tmp_path: Path) -> Runner:
    """``iconiq(*args, env={...}, input=..., timeout=...)``: run the console script."""

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        input: str | None = None,  # noqa: A002 - mirrors subprocess.run
        timeout: float = 60,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(ICONIQ), *args],
            env={**cli_env, **(env or {})},
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd or tmp_path,
        )

    return run


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server
