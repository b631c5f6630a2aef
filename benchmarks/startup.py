"""Start-up time of the ``iconiq`` console script, side by side with a bare Python.

Runs ``iconiq --help``, ``iconiq --version``, ``iconiq config path``,
``python -c "import typer"`` and ``python -c pass`` in turn (round-robin, so
machine load hits them alike) and prints the median and best wall time of each,
its ratio to the bare Python, and the budget ratio ``iconiq --help`` / ``import
typer`` (at most 1.3: the CLI's own start-up on top of typer's stays small).
Telemetry is switched off for the runs so only the CLI's own start-up is measured.

    .venv/bin/python benchmarks/startup.py [--runs 21]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def _commands() -> dict[str, list[str]]:
    iconiq = str(BIN / "iconiq")
    return {
        "iconiq --help": [iconiq, "--help"],
        "iconiq --version": [iconiq, "--version"],
        "iconiq config path": [iconiq, "config", "path"],
        "python -c 'import typer'": [sys.executable, "-c", "import typer"],
        "python -c pass": [sys.executable, "-c", "pass"],
    }


def _time_once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs per command (default 21)")
    args = parser.parse_args()
    commands = _commands()
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, ICONIQ_HOME=home, ICONIQ_TELEMETRY_DISABLED="1")
        for argv in commands.values():  # warm the OS caches once
            _time_once(argv, env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):
            for name, argv in commands.items():
                samples[name].append(_time_once(argv, env))
    base = statistics.median(samples["python -c pass"])
    print(f"{'command':<26} {'median ms':>10} {'best ms':>9} {'x python':>9}")
    for name, values in samples.items():
        med = statistics.median(values)
        print(f"{name:<26} {med:>10.1f} {min(values):>9.1f} {med / base:>9.2f}")
    budget = statistics.median(samples["iconiq --help"]) / statistics.median(
        samples["python -c 'import typer'"]
    )
    print(f"iconiq --help / import typer (medians): {budget:.2f} (budget 1.30)")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"({args.runs} runs each, interleaved; load average {load}; {sys.executable})")


if __name__ == "__main__":
    main()
