"""Where iconiq keeps its files without ICONIQ_HOME: the same directories platformdirs
gives, resolved without importing it on Linux and macOS (a host that records an event
would pay its 5-40 ms import)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from iconiq import paths
mine = [str(paths.config_dir()), str(paths.data_dir())]
loaded = "platformdirs" in sys.modules
import platformdirs
theirs = [str(platformdirs.user_config_path("iconiq")), str(platformdirs.user_data_path("iconiq"))]
print(json.dumps({"mine": mine, "theirs": theirs, "loaded": loaded}))
"""

CASES = {
    "defaults": {},
    "absolute XDG": {"XDG_CONFIG_HOME": "/srv/cfg", "XDG_DATA_HOME": "/srv/data/"},
    "relative XDG is ignored": {"XDG_CONFIG_HOME": "rel/cfg", "XDG_DATA_HOME": "./data"},
    "empty XDG": {"XDG_CONFIG_HOME": "", "XDG_DATA_HOME": ""},
    "relative HOME": {"HOME": "not/absolute"},
}


def _probe(tmp_path, extra: dict[str, str], drop: tuple[str, ...] = ()) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "ICONIQ_HOME"))}
    env["HOME"] = str(tmp_path / "home")
    env.update(extra)
    for name in drop:
        env.pop(name, None)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60,
        cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.skipif(sys.platform == "win32", reason="Windows always asks platformdirs")
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_directories_are_platformdirs_own(tmp_path, case: str) -> None:
    found = _probe(tmp_path, CASES[case])
    assert found["mine"] == found["theirs"]


@pytest.mark.skipif(sys.platform not in ("linux", "darwin"), reason="resolved here only there")
def test_platformdirs_is_not_imported_with_an_absolute_home(tmp_path) -> None:
    assert _probe(tmp_path, {})["loaded"] is False
    assert _probe(tmp_path, {"XDG_DATA_HOME": "/srv/data"})["loaded"] is False
    # A HOME that is not absolute is platformdirs' to resolve (it falls back to the
    # password database), so it is asked.
    assert _probe(tmp_path, {"HOME": "relative"})["loaded"] is True
