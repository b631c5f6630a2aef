"""Wall time a short command pays for its telemetry: iconiq vs peer SDKs.

    .venv/bin/python benchmarks/peers.py [--runs 9] [--cap 120] [--peers none,iconiq]
        [--baseline-src /tmp/base]

The same short command (``benchmarks/_peer_job.py``: a few ms of hashing) runs
as a fresh process with no telemetry, with iconiq's (spool + detached flusher),
with posthog-python and segment-analytics-python (each flushed/shut down at exit,
as their docs say for short-lived processes), and with the seed plan's
synchronous POST (5 s timeout). The endpoint is a collector on 127.0.0.1 that is
up, a closed port (refused) or a socket that accepts and never answers
(black-holed). Prints the median wall time per cell and its ratio to no
telemetry, all measured side by side in this one run (runs interleaved).

A first probe run of every cell (not counted) warms caches; a cell whose probe
takes over 3 s gets 3 runs, all such runs side by side at the end (they only
wait on the network); a run is cut at ``--cap`` seconds and shown as ``>cap``.
``--baseline-src DIR`` adds a row for another checkout's iconiq (first on
``PYTHONPATH``), measured in the same rounds. Bytecode is cached under a
temporary ``PYTHONPYCACHEPREFIX`` (as an installed package is; this machine sets
``PYTHONDONTWRITEBYTECODE``, which makes every run compile the iconiq modules it
imports again: ``--compile-every-run`` keeps that, as earlier runs measured). ``--no-site`` runs
every job with ``python -S`` and its packages on ``PYTHONPATH``: no ``.pth`` file
runs first, as in an environment where iconiq is installed rather than installed
in editable mode (whose finder imports ``pathlib`` into every process, hiding what
the hooks' own ``pathlib`` import costs a host that has not loaded it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _endpoints import BlackHole, Collector, closed_port  # noqa: E402

JOB = str(Path(__file__).resolve().parent / "_peer_job.py")
PROBE_CAP = 3.0
SLOW_RUNS = 3
PEERS = ["none", "iconiq", "iconiq-base", "posthog", "segment", "seed", "cli-off", "cli-on"]
BASELINE: dict[str, str] = {}  # "src": the baseline checkout, when given
COMPILE_EVERY_RUN: list[bool] = []  # [True]: keep PYTHONDONTWRITEBYTECODE
NO_SITE: list[str] = []  # [site-packages]: python -S, packages on PYTHONPATH
ROOT = str(Path(__file__).resolve().parent.parent)
LABELS = {
    "iconiq-base": "iconiq, baseline checkout",
    "cli-off": "iconiq icon --model local, DO_NOT_TRACK=1",
    "cli-on": "iconiq icon --model local, telemetry on",
    "none": "no telemetry",
    "iconiq": "iconiq (spool + detached flusher)",
    "posthog": "posthog-python (shutdown at exit)",
    "segment": "segment-analytics-python (shutdown)",
    "seed": "seed plan (sync POST, 5 s timeout)",
}


def iconiq_available() -> bool:
    try:
        import iconiq.telemetry.hooks  # noqa: F401
    except ImportError:
        return False
    return True


def env_for(endpoint: str, home: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DO_NOT_TRACK",
            "ICONIQ_TELEMETRY_DISABLED",
            "ICONIQ_TELEMETRY_DEBUG",
            "PYTHONDONTWRITEBYTECODE",
        }
        and not k.lower().endswith("_proxy")
    }
    env.update(ICONIQ_HOME=home, ICONIQ_TELEMETRY_ENDPOINT=endpoint, NO_PROXY="*")
    if COMPILE_EVERY_RUN:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = str(Path(home).parent / "pycache")
    return env


def timed(peer: str, endpoint: str, home: str, cap: float) -> float:
    """Wall time of one run of the job, from spawn to exit (cap when it had to be cut)."""
    argv, env = [sys.executable, JOB, peer, endpoint], env_for(endpoint, home)
    if peer == "iconiq-base":  # the baseline checkout's iconiq, its own spool
        argv[2] = "iconiq"
        env["PYTHONPATH"] = BASELINE["src"]
        env["ICONIQ_HOME"] = home = str(Path(home, "baseline"))
    if NO_SITE:  # no site, no .pth: the checkout and site-packages on PYTHONPATH
        src = BASELINE["src"] if peer == "iconiq-base" else ROOT
        env["PYTHONPATH"] = os.pathsep.join([src, NO_SITE[0]])
        argv.insert(1, "-S")
    if peer.startswith("cli-"):  # the real CLI, its own telemetry on or off
        out = str(Path(home, "icon.png"))
        argv = [
            sys.executable,
            *(["-S"] if NO_SITE else []),
            "-m",
            "iconiq",
            "icon",
            "--model",
            "local",
            "--prompt",
            "a rocket ship",
            "--output",
            out,
            "--force",
        ]
        if peer == "cli-off":
            env["DO_NOT_TRACK"] = "1"
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        proc.wait(timeout=cap)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return cap
    return time.perf_counter() - started


def settle(home: str, limit: float) -> None:
    """Wait (at most ``limit`` s) until no iconiq flusher of this home is running.

    The flusher is detached: the command it followed has already exited. On a
    2-core machine its start-up CPU would otherwise land on whichever command is
    measured next (any peer), so every run starts on an equally idle machine.
    """
    if limit <= 0 or not iconiq_available():
        return
    from iconiq.telemetry.spawn import flusher_running

    spools = [Path(home, "telemetry.db"), Path(home, "baseline", "telemetry.db")]
    deadline = time.monotonic() + limit
    while any(flusher_running(s) for s in spools) and time.monotonic() < deadline:
        time.sleep(0.02)


def measure(
    endpoints: dict[str, str],
    peers: list[str],
    runs: int,
    cap: float,
    homes: dict[str, str],
    settle_s: float = 2.0,
) -> dict[tuple[str, str], list[float]]:
    for home in homes.values():
        Path(home, "baseline").mkdir(exist_ok=True)
    samples: dict[tuple[str, str], list[float]] = {}
    slow: list[tuple[str, str]] = []
    for where, url in endpoints.items():
        # Probe (not counted): warms caches and the iconiq spool, and finds the cells
        # that wait on the network for seconds (those get 3 runs, concurrently, below).
        for peer in peers:
            if timed(peer, url, homes[where], PROBE_CAP) >= PROBE_CAP:
                slow.append((where, peer))
        fast = [p for p in peers if (where, p) not in slow]
        for rep in range(runs):
            for peer in fast[rep % len(fast) :] + fast[: rep % len(fast)]:
                samples.setdefault((where, peer), []).append(timed(peer, url, homes[where], cap))
                settle(homes[where], settle_s)
        print(f"  {where}: {runs} runs of {', '.join(fast)}", file=sys.stderr, flush=True)
    if slow:
        jobs = [cell for cell in slow for _ in range(SLOW_RUNS)]
        print(
            f"  {len(jobs)} runs of slow cells {slow}, concurrently (cap {cap:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            futures = [
                (cell, pool.submit(timed, cell[1], endpoints[cell[0]], homes[cell[0]], cap))
                for cell in jobs
            ]
            for cell, future in futures:
                samples.setdefault(cell, []).append(future.result())
    return samples


def fmt(seconds: float, cap: float) -> str:
    if seconds >= cap:
        return f">{cap:.0f} s"
    return f"{seconds * 1000:.0f} ms" if seconds < 2 else f"{seconds:.1f} s"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--cap", type=float, default=420.0)
    parser.add_argument(
        "--settle",
        type=float,
        default=2.0,
        help="seconds to wait for a detached iconiq flusher after each fast run (0: none)",
    )
    parser.add_argument("--peers", help="comma-separated subset of " + ",".join(PEERS))
    parser.add_argument("--baseline-src", help="another checkout's root: adds iconiq-base")
    parser.add_argument(
        "--compile-every-run",
        action="store_true",
        help="no bytecode cache: every run compiles what it imports (PYTHONDONTWRITEBYTECODE)",
    )
    parser.add_argument(
        "--no-site",
        action="store_true",
        help="run the jobs with python -S (no .pth files: as an installed, not editable, iconiq)",
    )
    args = parser.parse_args()
    if args.compile_every_run:
        COMPILE_EVERY_RUN.append(True)
    if args.no_site:
        import sysconfig

        NO_SITE.append(sysconfig.get_paths()["purelib"])

    wanted = args.peers.split(",") if args.peers else PEERS
    if args.baseline_src:
        BASELINE["src"] = args.baseline_src
        wanted = [*wanted, "iconiq-base"]
    elif "iconiq-base" in wanted:
        wanted = [p for p in wanted if p != "iconiq-base"]
    peers = [p for p in PEERS if p in wanted]
    peers = [p for p in peers if p not in {"iconiq", "cli-on"} or iconiq_available()]
    needed = {"none", *(["cli-off"] if "cli-on" in peers else [])}
    peers = [p for p in PEERS if p in peers or p in needed]
    collector, hole = Collector(), BlackHole()
    endpoints = {
        "up": collector.url,
        "refused": f"http://127.0.0.1:{closed_port()}",
        "black-holed": hole.url,
    }
    with tempfile.TemporaryDirectory(prefix="iconiq-peers-") as tmp:
        homes = {where: str(Path(tmp, where)) for where in endpoints}
        for home in homes.values():
            Path(home).mkdir()
        started = time.perf_counter()
        samples = measure(endpoints, peers, args.runs, args.cap, homes, args.settle)
        total = time.perf_counter() - started
    collector.close()
    hole.close()

    print(
        f"\nMedian wall time of one short command, {args.runs} runs per fast cell "
        f"(3 for cells over {PROBE_CAP:.0f} s), {sys.platform}, python {sys.version.split()[0]}"
    )
    header = f"| {'telemetry':<42} |" + "".join(f" {w:>26} |" for w in endpoints)
    print(header)
    print("|" + "-" * 44 + "|" + ("-" * 27 + ":|") * len(endpoints))
    for peer in peers:
        cells = []
        for where in endpoints:
            med = statistics.median(samples[(where, peer)])
            base = statistics.median(samples[(where, "cli-off" if peer == "cli-on" else "none")])
            ratio = "" if peer in {"none", "cli-off"} else f" x{med / base:.2f}"
            if peer not in {"none", "cli-off"} and med < 2:
                ratio += f" {(med - base) * 1000:+.1f}"
            if med >= args.cap:
                ratio = f" >x{med / base:.0f}"
            cells.append(f" {fmt(med, args.cap) + ratio:>26} |")
        print(f"| {LABELS[peer]:<42} |" + "".join(cells))
    up = collector.count
    print(
        "\nEvents the collector received (unique/total): "
        + ", ".join(
            f"{sdk} {up(sdk)[0]}/{up(sdk)[1]}" for sdk in ("iconiq", "posthog", "segment", "seed")
        )
    )
    print(
        "Ratios (and ms added): to no telemetry; the iconiq CLI rows to the same command"
        " with DO_NOT_TRACK=1."
    )
    print(
        f"After each fast run the script waited up to {args.settle:g} s for iconiq's detached"
        " flusher (off the user's path) so its CPU is not charged to the next command."
    )
    cache = "none (every run compiles)" if COMPILE_EVERY_RUN else "cached (PYTHONPYCACHEPREFIX)"
    print(f"Bytecode: {cache}." + (" Jobs run with python -S (no .pth files)." if NO_SITE else ""))
    print(
        f"Measured in {total:.0f} s; load average at the end "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs."
    )
    if "iconiq" not in peers:
        print("iconiq row missing: iconiq.telemetry.hooks is not importable yet.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
