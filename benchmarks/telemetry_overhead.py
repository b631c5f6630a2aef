"""What telemetry costs a command: on vs off, with the endpoint up, refused, black-holed.

    .venv/bin/python benchmarks/telemetry_overhead.py [--hooks 300] [--cli 15]

Two measurements, every cell side by side in this one run (interleaved):

* hooks: ``before_command`` + ``after_command`` of one run, in process (the
  work telemetry adds to a command: settings, spool append, maybe a spawn);
* cli: wall and CPU time of ``python -m iconiq config path`` as a fresh process
  (the user's view, imports included; on a loaded machine the wall time is
  noisy, the CPU time of the process much less so).

Cells: telemetry off (DO_NOT_TRACK=1); on with a collector on 127.0.0.1 that
answers (up); on with a closed loopback port (refused); on with a loopback
socket that accepts and never answers (black-holed). Budget: at most 5 ms
added (median) per command. Also lists which heavy modules the recording path
imports (none may be httpx, tenacity, filelock, sqlite_utils).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.telemetry.collector import Collector  # noqa: E402

OPT_OUTS = ("DO_NOT_TRACK", "ICONIQ_TELEMETRY_DISABLED")
HEAVY = ("httpx", "tenacity", "filelock", "sqlite_utils", "rich", "openai")


class BlackHole:
    """Accepts TCP connections on 127.0.0.1 and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def closed_port() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def cell_env(name: str, endpoint: str, base: Path) -> dict[str, str]:
    home = base / name
    home.mkdir(parents=True, exist_ok=True)
    (home / "telemetry-notice-shown").touch()
    env = {k: v for k, v in os.environ.items() if k not in OPT_OUTS}
    env.update(ICONIQ_HOME=str(home), ICONIQ_TELEMETRY_ENDPOINT=endpoint, NO_PROXY="*")
    # As installed packages are: compiled once (this machine sets PYTHONDONTWRITEBYTECODE,
    # which would make every process compile iconiq's modules again).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(base / "pycache")
    if name == "off":
        env["DO_NOT_TRACK"] = "1"
    return env


def time_hooks(env: dict[str, str]) -> float:
    from iconiq.run import Run
    from iconiq.telemetry import hooks

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        run = Run(command="icon", invoked=True, success=True, flags=["--prompt", "--model"])
        run.note(prompt_length=42, model_used="local", output_format="png", execution_time=80)
        started = time.perf_counter()
        hooks.before_command(run)
        hooks.after_command(run)
        return (time.perf_counter() - started) * 1000
    finally:
        os.environ.clear()
        os.environ.update(saved)


def time_cli(env: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms) of one ``iconiq config path`` process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "iconiq", "config", "path"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0
    wall = (time.perf_counter() - started) * 1000
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def heavy_modules(env: dict[str, str]) -> list[str]:
    code = (
        "import sys; from iconiq.cli.main import main; main(['config', 'path']);"
        f" print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    line = [x for x in out.splitlines() if x.startswith("HEAVY=")][-1]
    return [m for m in line.removeprefix("HEAVY=").split(",") if m]


def settle(envs: dict[str, dict[str, str]], limit: float = 3.0) -> None:
    """Wait (up to ``limit`` s) for flushers that are busy starting or uploading, so that
    one cell's background work does not slow the next cell's measurement."""
    from iconiq.telemetry.spawn import flusher_running

    deadline = time.monotonic() + limit
    spools = [Path(env["ICONIQ_HOME"]) / "telemetry.db" for env in envs.values()]
    busy = [p for p in spools if "black" not in str(p)]
    while time.monotonic() < deadline and any(flusher_running(p) for p in busy):
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hooks", type=int, default=300, help="in-process runs per cell")
    parser.add_argument("--cli", type=int, default=15, help="CLI processes per cell")
    args = parser.parse_args()
    collector = Collector().__enter__()
    hole = BlackHole()
    endpoints = {
        "off": closed_port(),
        "on, endpoint up": collector.url,
        "on, refused": closed_port(),
        "on, black-holed": hole.url,
    }
    with tempfile.TemporaryDirectory(prefix="iconiq-bench-", ignore_cleanup_errors=True) as tmp:
        envs = {
            name: cell_env(name.replace(",", "").replace(" ", "-"), url, Path(tmp))
            for name, url in endpoints.items()
        }
        hooks: dict[str, list[float]] = {name: [] for name in envs}
        clis: dict[str, list[float]] = {name: [] for name in envs}
        cpus: dict[str, list[float]] = {name: [] for name in envs}
        for env in envs.values():  # warm-up, not counted
            time_hooks(env)
            time_cli(env)
        for _ in range(args.hooks):
            for name, env in envs.items():
                settle(envs)
                hooks[name].append(time_hooks(env))
        for _ in range(args.cli):
            for name, env in envs.items():
                settle(envs)
                wall, cpu = time_cli(env)
                clis[name].append(wall)
                cpus[name].append(cpu)
        heavy = {name: heavy_modules(env) for name, env in envs.items()}
        settle(envs, limit=10)
    hole.close()
    collector.__exit__()

    base_hook = statistics.median(hooks["off"])
    base_cli = statistics.median(clis["off"])
    base_cpu = statistics.median(cpus["off"])
    print(f"telemetry overhead: {args.hooks} hook runs, {args.cli} CLI runs per cell, interleaved")
    print()
    header = (
        f"| {'cell':<16} | hooks median ms | hooks p90 ms | added vs off ms |"
        f" CLI wall median ms | wall vs off ms | CLI CPU median ms | CPU vs off ms |"
        f" heavy modules loaded |"
    )
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for name in envs:
        h = sorted(hooks[name])
        med, p90 = statistics.median(h), h[int(len(h) * 0.9) - 1]
        cmed = statistics.median(clis[name])
        cpu = statistics.median(cpus[name])
        print(
            f"| {name:<16} | {med:15.2f} | {p90:12.2f} | {med - base_hook:15.2f} |"
            f" {cmed:18.1f} | {cmed - base_cli:+14.1f} | {cpu:17.1f} | {cpu - base_cpu:+13.1f} |"
            f" {','.join(heavy[name]) or '-':<20} |"
        )
    print()
    print("budget: at most 5 ms added (median) per command with telemetry on")


if __name__ == "__main__":
    main()
