"""The README's first command, ``bash scripts/demo.sh``, run as a user would."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_runs_the_main_job_end_to_end_and_stops_its_server(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(ICONIQ_DEMO_SKIP_INSTALL="1", TMPDIR=str(tmp_path), OPENAI_API_KEY="sk-not-used")
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=240, check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out

    # The server it started answered, and is gone afterwards.
    listening = re.search(r"listening on (http://127\.0\.0\.1:\d+) \(pid (\d+)\)", out)
    assert listening, out[-2000:]
    url, pid = listening.group(1), int(listening.group(2))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert "iconiq-server stopped" in out

    # Icons were written offline; the failures were one line and a documented exit code.
    work = next(tmp_path.glob("iconiq-demo.*"))
    assert (work / "icons" / "rocket.png").stat().st_size > 0
    assert len(list((work / "icons" / "cup").glob("*.png"))) == 5
    assert re.findall(r"-> exit (\d+)", out) == ["2", "9", "2", "3"]
    assert "no OpenAI API key" in out  # the caller's key was not handed to the demo

    # Every command's event reached the server and the report shows them.
    assert "iconiq-server report" in out
    with sqlite3.connect(work / "server.db") as db:
        rows = db.execute("SELECT success, error_type FROM events WHERE command='icon'").fetchall()
    assert sorted(rows, key=str) == sorted(
        [(1, None)] * 4 + [(0, "invalid_input"), (0, "io_error"), (0, "invalid_input"),
                           (0, "auth")], key=str
    )
    assert f"{url}/   (admin token: " in out
