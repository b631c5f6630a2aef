"""What each telemetry SDK delivers after a 1-hour outage of its endpoint.

    .venv/bin/python benchmarks/peer_outage.py [--during 5] [--wait 60]

For each peer (iconiq, posthog-python, segment-analytics-python, the seed plan's
synchronous POST), ``--during`` short commands run while the endpoint on
127.0.0.1 is down (connection refused). Then the endpoint comes back on the
same port and, one hour later (the command's clock is shifted by +1 h with
freezegun), one more command runs. We then wait up to ``--wait`` seconds and
count, at the endpoint, the distinct events that arrived and any that arrived
twice. Nothing is assumed about any SDK: the table is what came through.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _endpoints import Collector, closed_port  # noqa: E402
from peers import JOB, LABELS, env_for, iconiq_available  # noqa: E402

PEERS = ["iconiq", "posthog", "segment", "seed"]


def run_job(peer: str, endpoint: str, home: str, shift_hours: float = 0.0) -> float:
    argv = [sys.executable, JOB, peer, endpoint]
    if shift_hours:
        argv += ["--shift-hours", str(shift_hours)]
    started = time.perf_counter()
    subprocess.run(
        argv,
        env=env_for(endpoint, home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=600,
        check=False,
    )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--during", type=int, default=5, help="commands run during the outage")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for delivery")
    args = parser.parse_args()
    peers = [p for p in PEERS if p != "iconiq" or iconiq_available()]

    port = closed_port()
    endpoint = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="iconiq-outage-") as tmp:
        homes = {peer: str(Path(tmp, peer)) for peer in peers}
        for home in homes.values():
            os.makedirs(home)

        # The outage: all commands of all peers run side by side (some SDKs block their
        # process for minutes on a dead endpoint; a user would have run them over the hour).
        print(f"outage: {args.during} commands per peer against {endpoint} (refused)",
              file=sys.stderr, flush=True)
        jobs = [peer for peer in peers for _ in range(args.during)]
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            times = list(pool.map(lambda p: run_job(p, endpoint, homes[p]), jobs))
        durations: dict[str, list[float]] = {peer: [] for peer in peers}
        for peer, seconds in zip(jobs, times, strict=True):
            durations[peer].append(seconds)

        # The endpoint is back; an hour has passed for the next command.
        collector = Collector(port=port)
        print("endpoint back; one command per peer with the clock at +1 h",
              file=sys.stderr, flush=True)
        with ThreadPoolExecutor(max_workers=len(peers)) as pool:
            after = dict(zip(peers, pool.map(
                lambda p: run_job(p, endpoint, homes[p], shift_hours=1.0), peers), strict=True))
        expected = args.during + 1
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline:
            if all(collector.count(p)[0] >= expected for p in peers):
                break
            time.sleep(0.5)
        waited = args.wait - max(0.0, deadline - time.monotonic())
        time.sleep(1.0)  # let any straggling repeat land before counting
        counts = {p: collector.count(p) for p in peers}
        collector.close()

    print(f"\nEvents delivered after a 1-hour outage: {args.during} commands during the "
          f"outage + 1 after it (clock +1 h), delivery awaited {waited:.0f} s")
    print(f"| {'telemetry':<42} | outage cmd (median)*| produced | delivered | twice | lost |")
    print("|" + "-" * 44 + "|" + "-" * 20 + ":|" + "-" * 9 + ":|" + "-" * 10 + ":|"
          + "-" * 6 + ":|" + "-" * 5 + ":|")
    for peer in peers:
        unique, total = counts[peer]
        med = sorted(durations[peer])[len(durations[peer]) // 2]
        print(f"| {LABELS[peer]:<42} | {med:>17.2f} s | {expected:>8} | {unique:>9} "
              f"| {total - unique:>5} | {expected - unique:>4} |")
    print("* wall time of one command while the endpoint was down; every command of a phase"
          " runs at once, so on a small machine this includes CPU contention"
          " (benchmarks/peers.py has clean timings). After the outage: "
          + ", ".join(f"{p} {after[p]:.2f} s" for p in peers) + ".")
    print(f"Load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
          f" on {os.cpu_count()} CPUs.")
    if "iconiq" not in peers:
        print("iconiq row missing: iconiq.telemetry.hooks is not importable yet.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
