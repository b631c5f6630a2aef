"""What telemetry costs a command: CPU on vs off, endpoint up, refused, black-holed.

    .venv/bin/python benchmarks/telemetry_overhead.py [--runs 60] [--hooks 200]
        [--baseline-src /tmp/base] [--seed 1]

Every cell runs ``python -m iconiq config path`` as a fresh process, ``--runs``
times, all cells interleaved (each round runs every cell once, in a shuffled
order), so the machine's load falls on every cell alike. ``--bare`` runs a bare
host instead (``python -S``, the CLI's two hooks around a trivial command):
the recording path's whole cold cost, imports included, in a process that is
~10 ms rather than ~100 ms of CPU, so the noise around it is smaller. A cell's CPU is the
process's user + system time from ``os.wait4`` (the forked helper that starts a
flusher included, the detached flusher not: ``benchmarks/telemetry_cost.py``
counts that), its page faults ``ru_minflt``. Between runs the script waits for
a running flusher to finish, so its CPU does not land on the next run.

Cells: telemetry off (``DO_NOT_TRACK=1``); on with a collector on 127.0.0.1
that answers (up), a closed loopback port (refused), and a loopback socket that
accepts and never answers (black-holed). ``--baseline-src DIR`` adds the same
cells for another checkout's ``iconiq`` (first on ``PYTHONPATH``), in the same
rounds, so before and after share the machine's load.

Added CPU is the median of the "on" cell minus the median of "off" (same
checkout), with a 95 % bootstrap interval (the rounds resampled, ``--boot``
times). Budget: at most 3 ms. ``--spawns`` times ``spawn_flusher`` itself (wall,
CPU, page faults) in a process that loaded the CLI, for each checkout (a command
that starts a flusher pays it; most do not: ``iconiq.telemetry.due``).
``--hooks`` also times ``before_command`` + ``after_command`` in this process
(warm: what a long-running host pays per command). Bytecode is cached under a
temporary ``PYTHONPYCACHEPREFIX`` (as an installed package is). Also lists which
heavy modules the recording path loads.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _endpoints import BlackHole, Collector, closed_port  # noqa: E402

OPT_OUTS = ("DO_NOT_TRACK", "ICONIQ_TELEMETRY_DISABLED", "ICONIQ_TELEMETRY_DEBUG")
HEAVY = ("httpx", "tenacity", "filelock", "sqlite_utils", "openai", "sqlite3.dbapi2")
BUDGET_MS = 3.0
BARE: list[bool] = []  # [True]: --bare
BARE_LABEL = "a bare host (python -S) running the hooks"
# What a host that embeds the hooks runs around a command (as the CLI does), in a
# process with nothing else loaded: the recording path's whole cold cost.
BARE_HOST = """
from iconiq import run as run_mod
from iconiq.telemetry.hooks import after_command, before_command
run = run_mod.start()
run.command, run.invoked = "config", True
before_command(run)
run.success = True
after_command(run)
"""


class Cell:
    def __init__(self, src: str, where: str, endpoint: str, work: Path) -> None:
        self.src, self.where = src, where
        slug = f"{'base' if src != str(ROOT) else 'this'}-{where.replace(' ', '-')}"
        self.label = ("baseline" if src != str(ROOT) else "this checkout", where)
        self.home = work / slug
        self.home.mkdir()
        (self.home / "telemetry-notice-shown").touch()
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in OPT_OUTS
            and k != "PYTHONDONTWRITEBYTECODE"
            and not k.lower().endswith("_proxy")
        }
        env.update(
            ICONIQ_HOME=str(self.home),
            ICONIQ_TELEMETRY_ENDPOINT=endpoint,
            NO_PROXY="*",
            PYTHONPATH=src,
            # As installed packages are: compiled once (this machine sets
            # PYTHONDONTWRITEBYTECODE, which would compile iconiq in every process).
            PYTHONPYCACHEPREFIX=str(work / "pycache"),
        )
        if where == "off":
            env["DO_NOT_TRACK"] = "1"
        self.env = env
        self.cpu: list[float] = []
        self.wall: list[float] = []
        self.faults: list[float] = []

    def run(self) -> None:
        started = time.perf_counter()
        argv = [sys.executable, "-m", "iconiq", "config", "path"]
        if BARE:  # a bare host: python -S, the two hooks around a trivial command
            argv = [sys.executable, "-S", "-c", BARE_HOST]
        proc = subprocess.Popen(
            argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",  # ``-m`` and ``-c`` must not find this checkout in the cwd
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = (time.perf_counter() - started) * 1000
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{self.label}: iconiq config path failed")
        self.cpu.append((usage.ru_utime + usage.ru_stime) * 1000)
        self.wall.append(wall)
        self.faults.append(usage.ru_minflt)

    def heavy_modules(self) -> list[str]:
        code = (
            "import sys; from iconiq.cli.main import main; main(['config', 'path']);"
            f" print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            cwd="/",
        ).stdout
        line = [x for x in out.splitlines() if x.startswith("HEAVY=")][-1]
        return [m for m in line.removeprefix("HEAVY=").split(",") if m]


def added_ci(
    on: list[float], off: list[float], rounds: int, rng: random.Random
) -> tuple[float, float, float]:
    """median(on) - median(off), and a 95 % bootstrap interval of it. The rounds are
    resampled (a round's on and off runs stay together: they shared the machine's load
    of that moment), ``rounds`` times."""
    n = len(on)
    diffs = []
    for _ in range(rounds):
        picks = [rng.randrange(n) for _ in range(n)]
        diffs.append(
            statistics.median(on[i] for i in picks) - statistics.median(off[i] for i in picks)
        )
    diffs.sort()
    point = statistics.median(on) - statistics.median(off)
    return point, diffs[int(rounds * 0.025)], diffs[min(rounds - 1, int(rounds * 0.975))]


SPAWN = """
import json, os, resource, statistics, sys, time
from pathlib import Path
import iconiq.cli.app, iconiq.cli.base  # a process the size of the CLI's
from iconiq.telemetry import spawn
spool = Path(sys.argv[1])

def used():
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    return cpu * 1000, me.ru_minflt + kids.ru_minflt

walls, cpus, faults = [], [], []
for _ in range(int(sys.argv[2])):
    time.sleep(0.2)  # the last flusher finds nothing to do and exits
    cpu, flt = used()
    started = time.perf_counter()
    spawn.spawn_flusher(spool)
    walls.append((time.perf_counter() - started) * 1000)
    cpu2, flt2 = used()
    cpus.append(cpu2 - cpu)
    faults.append(flt2 - flt)
print(json.dumps([statistics.median(walls), statistics.median(cpus), statistics.median(faults)]))
"""


def time_spawn(cell: Cell, runs: int) -> list[float]:
    """Medians of (wall ms, CPU ms, page faults) of ``spawn_flusher`` in a process that
    loaded the CLI (the process and the helpers it reaps; the flusher is not counted)."""
    out = subprocess.run(
        [sys.executable, "-c", SPAWN, str(cell.home / "telemetry.db"), str(runs)],
        env=cell.env,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        cwd="/",
    ).stdout
    result: list[float] = json.loads(out.splitlines()[-1])
    return result


def settle(cells: list[Cell], limit: float = 3.0) -> None:
    """Wait (up to ``limit`` s) for flushers busy starting or uploading, so that one
    cell's background work does not land on the next cell's measurement."""
    from iconiq.telemetry.spawn import flusher_running

    deadline = time.monotonic() + limit
    spools = [c.home / "telemetry.db" for c in cells if c.where != "on, black-holed"]
    while time.monotonic() < deadline and any(flusher_running(p) for p in spools):
        time.sleep(0.02)


def time_hooks(env: dict[str, str]) -> float:
    """ms of one ``before_command`` + ``after_command`` in this (warm) process."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60, help="CLI processes per cell")
    parser.add_argument("--hooks", type=int, default=200, help="in-process hook runs per cell")
    parser.add_argument("--spawns", type=int, default=25, help="flusher spawns per checkout")
    parser.add_argument("--boot", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--baseline-src", help="another checkout's root: adds its cells")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--bare",
        action="store_true",
        help="cells run a bare host (python -S, the hooks around a trivial command)"
        " instead of the CLI: the recording path's cold cost, with less noise around it",
    )
    args = parser.parse_args()
    if args.bare:
        BARE.append(True)
    rng = random.Random(args.seed)
    collector, hole = Collector(), BlackHole()
    endpoints = {
        "off": f"http://127.0.0.1:{closed_port()}",
        "on, endpoint up": collector.url,
        "on, refused": f"http://127.0.0.1:{closed_port()}",
        "on, black-holed": hole.url,
    }
    srcs = [str(ROOT), *([str(Path(args.baseline_src).resolve())] if args.baseline_src else [])]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="iconiq-bench-", ignore_cleanup_errors=True) as tmp:
        cells = [
            Cell(src, where, url, Path(tmp)) for src in srcs for where, url in endpoints.items()
        ]
        for cell in cells:  # warm-up (compiles the bytecode, makes the spools): not counted
            cell.run()
            cell.run()
            cell.cpu.clear(), cell.wall.clear(), cell.faults.clear()
        settle(cells, limit=10)
        for _ in range(args.runs):
            for cell in rng.sample(cells, len(cells)):
                settle(cells)
                cell.run()
        heavy = {id(cell): cell.heavy_modules() for cell in cells}
        hooks: dict[str, list[float]] = {}
        for _ in range(args.hooks):
            for cell in cells[: len(endpoints)]:  # this checkout only (it is the one imported)
                settle(cells)
                hooks.setdefault(cell.where, []).append(time_hooks(cell.env))
        settle(cells, limit=10)
        spawns = {
            cell.label[0]: time_spawn(cell, args.spawns)
            for cell in cells
            if cell.where == "on, refused" and args.spawns
        }
        settle(cells, limit=10)
    total = time.perf_counter() - started
    collector.close()
    hole.close()

    print(
        f"telemetry overhead: {BARE_LABEL if BARE else '`iconiq config path`'},"
        f" {args.runs} runs per cell, interleaved"
        f" (shuffled rounds); {sys.platform}, python {sys.version.split()[0]}"
    )
    print()
    header = (
        f"| {'checkout':<13} | {'cell':<15} | CPU median ms | added CPU ms (95% CI)  |"
        f" page faults | added faults | wall median ms | heavy modules loaded |"
    )
    print(header)
    print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
    verdicts = []
    for cell in cells:
        off = next(c for c in cells if c.src == cell.src and c.where == "off")
        cpu = statistics.median(cell.cpu)
        faults = statistics.median(cell.faults)
        if cell is off:
            added, added_faults = "-", "-"
        else:
            point, lo, hi = added_ci(cell.cpu, off.cpu, args.boot, rng)
            added = f"{point:+.2f} [{lo:+.2f}, {hi:+.2f}]"
            added_faults = f"{faults - statistics.median(off.faults):+.0f}"
            verdicts.append((cell.label, point, hi))
        print(
            f"| {cell.label[0]:<13} | {cell.where:<15} | {cpu:13.1f} | {added:<22} |"
            f" {faults:11.0f} | {added_faults:>12} | {statistics.median(cell.wall):14.1f} |"
            f" {','.join(heavy[id(cell)]) or '-':<20} |"
        )
    print()
    if hooks:
        base_hook = statistics.median(hooks["off"])
        print(
            "in process (warm, this checkout): before_command + after_command, median ms: "
            + ", ".join(
                f"{where} {statistics.median(v):.2f} ({statistics.median(v) - base_hook:+.2f})"
                for where, v in hooks.items()
            )
        )
    if len(srcs) > 1:  # the same cell, this checkout minus the baseline (rounds paired)
        print("this checkout minus baseline, same cell (CPU ms, median difference, 95% CI):")
        for where in endpoints:
            this, base = (
                next(c for c in cells if (c.src, c.where) == (src, where)) for src in srcs
            )
            point, lo, hi = added_ci(this.cpu, base.cpu, args.boot, rng)
            print(f"  {where}: {point:+.2f} [{lo:+.2f}, {hi:+.2f}]")
    for checkout, (wall, cpu, faults) in spawns.items():
        print(
            f"starting one flusher ({checkout}, in a process that loaded the CLI, median of"
            f" {args.spawns}): {wall:.2f} ms wall, {cpu:.2f} ms CPU, {faults:.0f} page faults"
        )
    print(f"budget: at most {BUDGET_MS:g} ms of CPU added (median of on minus median of off)")
    for (checkout, where), point, hi in verdicts:
        mark = "ok" if point <= BUDGET_MS else "OVER"
        print(f"  {checkout}, {where}: {point:+.2f} ms {mark} (95% CI upper bound {hi:+.2f})")
    print(
        f"Measured in {total:.0f} s; load average at the end "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs."
    )


if __name__ == "__main__":
    main()
