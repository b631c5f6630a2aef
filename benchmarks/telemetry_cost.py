"""What telemetry costs the machine over a session: CPU per command and per upload.

    .venv/bin/python benchmarks/telemetry_cost.py [--commands 30] [--interval 5]
        [--baseline-src /tmp/base]

A session of ``--commands`` real ``python -m iconiq config path`` commands, one
every ``--interval`` seconds, against a real ``iconiq-server serve`` on
127.0.0.1, with telemetry on and with ``DO_NOT_TRACK=1``, interleaved (each
tick runs every cell once, in a rotating order). ``--baseline-src DIR`` adds
another checkout's ``iconiq`` (first on ``PYTHONPATH``) to the same ticks, so
before and after share the machine's load.

Per cell it prints the command's own CPU (user + system from ``os.wait4``, the
forked helper that starts a flusher included), the flushers the commands started
and their CPU, and telemetry's total CPU (added per command x commands + every
flusher run) as a share of the commands' own CPU with telemetry off. Goal: at
most 15 %. The flushers' runs and CPU are what they recorded themselves in the
spool (``flusher_runs``, ``flusher_cpu_ms``, shown by ``iconiq telemetry
status``: user + system time from start-up to that write), so the same
measurement works for any checkout, whatever command line starts its flusher.
Bytecode is cached under a temporary ``PYTHONPYCACHEPREFIX`` (as an installed
package is).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

class Cell:
    def __init__(self, name: str, src: str | None, on: bool, work: Path, url: str) -> None:
        self.name, self.src, self.on = name, src, on
        slug = f"{'base' if src else 'this'}-{'on' if on else 'off'}"
        self.home = work / slug
        self.home.mkdir()
        (self.home / "telemetry-notice-shown").touch()
        self.cpu: list[float] = []
        self.max_wait = 0.0  # the oldest pending event's age, at its highest
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"DO_NOT_TRACK", "ICONIQ_TELEMETRY_DISABLED", "PYTHONDONTWRITEBYTECODE"}
            and not k.lower().endswith("_proxy")
        }
        env.update(
            ICONIQ_HOME=str(self.home),
            ICONIQ_TELEMETRY_ENDPOINT=url,
            NO_PROXY="*",
            PYTHONPYCACHEPREFIX=str(work / "pycache"),
        )
        if src:
            env["PYTHONPATH"] = src
        else:
            env.pop("PYTHONPATH", None)
        if not on:
            env["DO_NOT_TRACK"] = "1"
        self.env = env

    def run(self) -> float:
        """CPU ms of one ``iconiq config path`` (the forked helper included)."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "iconiq", "config", "path"],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, cwd="/",  # ``-m`` must not find this checkout in the cwd
        )
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{self.name}: iconiq config path failed")
        return (usage.ru_utime + usage.ru_stime) * 1000

    def flushers(self) -> tuple[int, float]:
        """(flusher runs, their CPU ms in all), as the flushers recorded them in the spool
        (``flusher_runs``, ``flusher_cpu_ms``: start-up included, up to that write)."""
        spool = self.home / "telemetry.db"
        if not spool.exists():
            return 0, 0.0
        db = sqlite3.connect(spool)
        try:
            rows = dict(db.execute(
                "SELECT key, value FROM state WHERE key IN ('flusher_runs', 'flusher_cpu_ms')"
            ).fetchall())
        finally:
            db.close()
        return int(rows.get("flusher_runs") or 0), float(rows.get("flusher_cpu_ms") or 0)

    def pending(self) -> tuple[int, float | None]:
        """(events still queued, age in s of the oldest): in the spool, and still in its
        inbox (read here, not taken in: that is the flusher's job)."""
        spool = self.home / "telemetry.db"
        n, oldest = 0, None
        if spool.exists():
            db = sqlite3.connect(spool)
            try:
                n, oldest = db.execute("SELECT count(*), min(created_ms) FROM events").fetchone()
            finally:
                db.close()
        try:
            lines = (self.home / "telemetry.db.inbox").read_bytes().splitlines()
        except FileNotFoundError:
            lines = []
        stamps = [json.loads(line)["timestamp"] for line in lines if line.strip()]
        if stamps:
            n += len(stamps)
            oldest = min([*stamps, *([oldest] if oldest else [])])
        return int(n), (time.time() * 1000 - oldest) / 1000 if oldest else None


def watch(cells: list[Cell]) -> None:
    for cell in cells:
        if cell.on:
            age = cell.pending()[1]
            cell.max_wait = max(cell.max_wait, age or 0.0)


def flusher_busy(cells: list[Cell]) -> bool:
    from iconiq.telemetry.spawn import flusher_running

    return any(flusher_running(c.home / "telemetry.db") for c in cells if c.on)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=30)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between commands")
    parser.add_argument("--baseline-src", help="another checkout's root, measured alongside")
    parser.add_argument(
        "--drain", type=float, default=100.0,
        help="seconds to wait after the last command for queued events to be uploaded",
    )
    args = parser.parse_args()
    from tests.support.server import running_server

    srcs: list[tuple[str, str | None]] = [("this checkout", None)]
    if args.baseline_src:
        srcs.insert(0, (f"baseline {args.baseline_src}", args.baseline_src))
    with tempfile.TemporaryDirectory(prefix="iconiq-cost-") as tmp, running_server() as server:
        work = Path(tmp)
        cells = [
            Cell(f"{label}, telemetry {'on' if on else 'off'}", src, on, work, server.base_url)
            for label, src in srcs
            for on in (True, False)
        ]
        for n, (_, src) in enumerate(srcs):  # warm-up (compile, caches), not counted
            scratch = work / f"warm-{n}"
            scratch.mkdir()
            for on in (True, False):
                warm = Cell("warm", src, on, scratch, server.base_url)
                warm.run()
        time.sleep(min(3.0, args.interval))
        started = time.monotonic()
        rotation = itertools.cycle(range(len(cells)))
        for i in range(args.commands):
            tick = started + i * args.interval
            time.sleep(max(0.0, tick - time.monotonic()))
            first = next(rotation)
            for cell in cells[first:] + cells[:first]:
                cell.cpu.append(cell.run())
            watch(cells)
            print(f"  command {i + 1}/{args.commands}", file=sys.stderr, flush=True)
        session = time.monotonic() - started
        # No more commands: wait (at most --drain s) until every queued event was uploaded
        # (a scheduled flusher may still be asleep), noting how long events waited.
        deadline = time.monotonic() + args.drain
        time.sleep(1.0)
        while time.monotonic() < deadline and (
            flusher_busy(cells) or any(c.pending()[0] for c in cells if c.on)
        ):
            watch(cells)
            time.sleep(0.5)
        drained = time.monotonic() - started - session
        pending = {c.name: c.pending() for c in cells}
        flushers = {c.name: c.flushers() for c in cells}
    print(f"\n{args.commands} x `iconiq config path`, one every {args.interval:g} s "
          f"({session:.0f} s, then {drained:.0f} s without commands), telemetry on vs"
          f" DO_NOT_TRACK=1, endpoint: iconiq-server (SQLite) on 127.0.0.1")
    print("| code | CPU/command on ms | off ms | added ms | flusher runs | CPU/flusher ms |"
          " flushers total ms | telemetry share | longest wait s | pending at end |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, src in srcs:
        on = next(c for c in cells if c.src == src and c.on)
        off = next(c for c in cells if c.src == src and not c.on)
        med_on, med_off = statistics.median(on.cpu), statistics.median(off.cpu)
        # Paired by tick (the two ran back to back, under the same load): steadier than
        # the difference of the two medians on a shared machine.
        added = statistics.median([a - b for a, b in zip(on.cpu, off.cpu, strict=True)])
        runs, total = flushers[on.name]
        share = (added * args.commands + total) / (med_off * args.commands)
        per = f"{total / runs:.0f}" if runs else "-"
        n, age = pending[on.name]
        waiting = f"{n}" + (f" (oldest {age:.0f} s)" if age is not None else "")
        print(f"| {label} | {med_on:.1f} | {med_off:.1f} | {added:+.1f} | {runs} | {per} |"
              f" {total:.0f} | {share:.1%} | {on.max_wait:.0f} | {waiting} |")
    print("\nCPU/command: medians; added = median of (on - off) per tick; share ="
          " (added x commands + flushers total) / (off x commands). Goal: share at most 15 %."
          " Longest wait: the oldest queued event's age at its highest, sampled after each"
          " command and every 0.5 s after.")
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    version = sys.version.split()[0]
    print(f"Load average at the end {load} on {os.cpu_count()} CPUs; python {version}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
