"""CPU time of one flusher run that uploads a small queue, start-up included.

    .venv/bin/python benchmarks/flusher_cpu.py [--runs 15] [--events 5]
        [--baseline-src /tmp/base] [--collector]

Each run queues ``--events`` events in a fresh spool (with the measured code's
own ``Spool`` and ``event.build``), then runs the flusher as a direct child, with
the command line and ``PYTHONPATH`` that checkout's ``spawn`` gives it
(``python [-S] -m iconiq.telemetry.flusher <spool>``), against a real
``iconiq-server serve`` on 127.0.0.1
(``--collector``: a minimal stdlib collector instead) and reads the child's CPU
time (user + system) from ``os.wait4``. A run counts only when the flusher exited
0 and left the spool empty. ``--baseline-src DIR`` measures another checkout's
``iconiq`` (put first on ``PYTHONPATH``) in the same run, interleaved, so the
before/after numbers share the machine's load. ``python -c pass`` is the floor.

Bytecode is cached under a temporary ``PYTHONPYCACHEPREFIX`` (as an installed
package is): this machine sets ``PYTHONDONTWRITEBYTECODE``, which would make
every process compile iconiq's modules again.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

PREPARE = """
import sys
import iconiq
assert sys.argv[3] in iconiq.__file__, iconiq.__file__
from pathlib import Path
from iconiq.run import Run
from iconiq.telemetry import event
from iconiq.telemetry.spool import Spool
spool = Spool(Path(sys.argv[1]))
for i in range(int(sys.argv[2])):
    run = Run(command="config", invoked=True, success=True, flags=["--show-telemetry"])
    payload = event.build(run, spool.install_id())
    spool.append(payload["event_id"], event.dumps(payload))
spool.close()
"""

ARGV = """
import json, sys
from pathlib import Path
from iconiq.telemetry.spawn import flusher_argv, flusher_env
print(json.dumps([flusher_argv(Path(sys.argv[1])), flusher_env().get("PYTHONPATH")]))
"""

COUNT = """
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM events").fetchone()[0])
"""


def child_env(src: str | None, home: Path, endpoint: str, pycache: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DO_NOT_TRACK", "ICONIQ_TELEMETRY_DISABLED", "PYTHONDONTWRITEBYTECODE"}
        and not k.lower().endswith("_proxy")
    }
    env.update(
        ICONIQ_HOME=str(home),
        ICONIQ_TELEMETRY_ENDPOINT=endpoint,
        NO_PROXY="*",
        PYTHONPYCACHEPREFIX=str(pycache),
    )
    if src:
        env["PYTHONPATH"] = src
    else:
        env.pop("PYTHONPATH", None)
    return env


def cpu_of(argv: list[str], env: dict[str, str]) -> tuple[int, float]:
    """(exit code, CPU ms) of one child process."""
    proc = subprocess.Popen(  # from / : ``-m`` must not find this checkout in the cwd
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, cwd="/",
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, (usage.ru_utime + usage.ru_stime) * 1000


def flusher_run(src: str | None, work: Path, endpoint: str, events: int, n: int) -> float | None:
    """CPU ms of one flusher run uploading ``events`` queued events (None: it failed)."""
    home = work / f"home-{n}"
    home.mkdir()
    (home / "telemetry-notice-shown").touch()
    env = child_env(src, home, endpoint, work / "pycache")
    spool = home / "telemetry.db"
    prepare = [sys.executable, "-c", PREPARE, str(spool), str(events), src or str(ROOT)]
    subprocess.run(prepare, env=env, check=True, cwd="/")
    # The command line and PYTHONPATH the checkout's own ``spawn`` starts its flusher with.
    argv, pythonpath = json.loads(subprocess.run(
        [sys.executable, "-c", ARGV, str(spool)], env=env, check=True,
        capture_output=True, text=True, cwd="/",
    ).stdout)
    code, cpu = cpu_of(argv, {**env, "PYTHONPATH": pythonpath} if pythonpath else env)
    left = subprocess.run(
        [sys.executable, "-c", COUNT, str(spool)], env=env, check=True,
        capture_output=True, text=True, cwd="/",
    ).stdout.strip()
    if code != 0 or left != "0":
        print(f"  run {n} ({src or 'this checkout'}): exit {code}, {left} left",
              file=sys.stderr)
        return None
    return cpu


@contextmanager
def endpoint(use_collector: bool) -> Iterator[str]:
    if use_collector:
        from _endpoints import Collector

        collector = Collector()
        try:
            yield collector.url
        finally:
            collector.close()
        return
    from tests.support.server import running_server

    with running_server() as server:
        yield server.base_url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--events", type=int, default=5, help="events queued per run")
    parser.add_argument("--baseline-src", help="another checkout's root to measure alongside")
    parser.add_argument("--collector", action="store_true", help="stdlib collector, no server")
    args = parser.parse_args()
    variants: dict[str, str | None] = {"this checkout": None}
    if args.baseline_src:
        variants = {f"baseline ({args.baseline_src})": args.baseline_src, **variants}
    samples: dict[str, list[float]] = {name: [] for name in [*variants, "python -c pass"]}
    failures = 0
    with tempfile.TemporaryDirectory(prefix="iconiq-flusher-cpu-") as tmp, endpoint(
        args.collector
    ) as url:
        work = Path(tmp)
        n = 0
        for rep in range(args.runs + 1):  # the first round warms caches, not counted
            for name, src in variants.items():
                n += 1
                cpu = flusher_run(src, work, url, args.events, n)
                if cpu is None:
                    failures += 1
                elif rep:
                    samples[name].append(cpu)
            code, cpu = cpu_of([sys.executable, "-c", "pass"], child_env(None, work, url, work))
            if rep and code == 0:
                samples["python -c pass"].append(cpu)
    server = "stdlib collector" if args.collector else "iconiq-server (SQLite)"
    print(f"\nCPU of one flusher run uploading {args.events} events to {server} on 127.0.0.1,"
          f" {args.runs} runs per row, interleaved")
    print(f"| {'code':<44} | median ms | min ms | max ms |")
    print("|" + "-" * 46 + "|----------:|-------:|-------:|")
    for name, values in samples.items():
        if values:
            print(f"| {name:<44} | {statistics.median(values):9.0f} | {min(values):6.0f} |"
                  f" {max(values):6.0f} |")
    print(f"\nBudget: median at most 100 ms. Failed runs (not counted): {failures}.")
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    version = sys.version.split()[0]
    print(f"Load average at the end {load} on {os.cpu_count()} CPUs; python {version}.")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
