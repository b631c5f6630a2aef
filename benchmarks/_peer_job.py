"""One short command — a trivial job — instrumented by one telemetry SDK.

    python benchmarks/_peer_job.py PEER ENDPOINT [--shift-hours H]

PEER is ``none``, ``iconiq``, ``posthog``, ``segment`` or ``seed``. Each SDK is
used the way its documentation says for a short-lived process: record one event,
then flush/shut down before exit (posthog ``shutdown()``, segment
``analytics.shutdown()``; the seed plan posts synchronously with a 5 s timeout;
iconiq appends to its spool and hands delivery to a detached flusher, exactly as
the ``iconiq`` CLI does after every command). ``--shift-hours`` runs the process
with its clock moved (freezegun), for the outage benchmark. The process's exit
code is always the job's (0), whatever the telemetry did.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import uuid


def job() -> int:
    """The user's actual work: a few milliseconds of hashing."""
    digest = hashlib.sha256()
    for i in range(2000):
        digest.update(i.to_bytes(4, "little") * 256)
    return len(digest.hexdigest())


def event(started_ms: int, elapsed_ms: int) -> dict[str, object]:
    return {
        "command": "icon",
        "success": True,
        "timestamp": started_ms,
        "version": "0.1.0",
        "execution_time": elapsed_ms,
        "error_type": None,
        "prompt_length": 24,
        "output_format": "png",
        "model_used": "local",
    }


def with_iconiq(endpoint: str) -> None:
    # The same two calls the CLI entry point makes around every command.
    from iconiq import run as run_mod
    from iconiq.telemetry.hooks import after_command, before_command

    run = run_mod.start()
    run.command = "icon"
    run.invoked = True
    before_command(run)
    job()
    run.success = True
    run.flags = ["--prompt", "--model"]
    run.note(prompt_length=24, output_format="png", model_used="local", api_time=0)
    run.facts.setdefault("execution_time", run.elapsed_ms())
    after_command(run)


def with_posthog(endpoint: str) -> None:
    from posthog import Posthog

    client = Posthog("phc_benchmark", host=endpoint)
    started = int(time.time() * 1000)
    job()
    client.capture(
        "cli_command",
        distinct_id=str(uuid.uuid4()),
        properties=event(started, int(time.time() * 1000) - started),
    )
    client.shutdown()


def with_segment(endpoint: str) -> None:
    import segment.analytics as analytics

    analytics.write_key = "benchmark"
    analytics.host = endpoint
    started = int(time.time() * 1000)
    job()
    analytics.track(
        str(uuid.uuid4()), "cli_command", event(started, int(time.time() * 1000) - started)
    )
    analytics.shutdown()


def with_seed(endpoint: str) -> None:
    """The seed plan, ported: a synchronous POST to /v1/track, 5 s timeout, errors ignored."""
    import urllib.request

    started = int(time.time() * 1000)
    job()
    data = event(started, int(time.time() * 1000) - started) | {"session_id": str(uuid.uuid4())}
    request = urllib.request.Request(
        endpoint + "/v1/track",
        data=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", "User-Agent": "iconiq-cli/0.1.0"},
        method="POST",
    )
    try:
        urllib.request.urlopen(request, timeout=5).close()
    except Exception:  # noqa: BLE001 - "fail silently", as the seed does
        pass


PEERS = {
    "none": lambda endpoint: job() and None,
    "iconiq": with_iconiq,
    "posthog": with_posthog,
    "segment": with_segment,
    "seed": with_seed,
}


def main(argv: list[str]) -> int:
    peer, endpoint = argv[0], argv[1]
    if "--shift-hours" in argv:
        import datetime

        import freezegun

        hours = float(argv[argv.index("--shift-hours") + 1])
        now = datetime.datetime.now(datetime.timezone.utc)
        freezegun.freeze_time(now + datetime.timedelta(hours=hours), tick=True).start()
    PEERS[peer](endpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
