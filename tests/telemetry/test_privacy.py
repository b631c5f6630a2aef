"""The privacy canary: a prompt and an API key never reach the spool, the wire,
or the flusher's command line (nor its environment)."""

from __future__ import annotations

from pathlib import Path

from tests.support.openai_server import OpenAIServer
from tests.telemetry.collector import Collector
from tests.telemetry.conftest import cli, flusher_pids, wait_until

PROMPT = "canary-prompt-7f3a9 a lighthouse at dusk"
KEY = "sk-canary-key-0c5d2e9b1a"
CANARIES = [PROMPT.encode(), b"canary-prompt-7f3a9", KEY.encode(), b"canary-key-0c5d2e9b1a"]


def test_prompt_and_key_never_leave(
    collector: Collector, spool_path: Path, noticed: Path, tmp_path: Path
) -> None:
    collector.mode = "store_hang"  # the flusher stays alive, waiting for its answer
    with OpenAIServer() as api:
        env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": api.base_url}
        remote = cli(
            "icon", "--prompt", PROMPT, "--model", "dall-e-3", "-o", str(tmp_path / "a.png"),
            env=env,
        )
        local = cli(
            "icon", "--prompt", PROMPT, "--model", "local", "-o", str(tmp_path / "b.png"),
            env=env,
        )
    assert remote.returncode == 0, remote.stderr
    assert local.returncode == 0, local.stderr
    assert wait_until(lambda: bool(flusher_pids(spool_path)), 30)
    assert collector.received.wait(30)
    for pid in flusher_pids(spool_path):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        flusher = [b"-S", b"-m", b"iconiq.telemetry.flusher", str(spool_path).encode(), b""]
        assert cmdline[1:] == flusher  # nothing but the spool's path (-S: no site, spawn.py)
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        for canary in CANARIES:
            assert canary not in b"\0".join(cmdline) and canary not in environ
    wire = collector.wire()
    assert b'"command":"icon"' in wire and b'"model_used":"dall-e-3"' in wire
    assert str(len(PROMPT)).encode() in wire  # the length goes, not the text
    spooled = b"".join(
        p.read_bytes() for p in spool_path.parent.iterdir() if p.name.startswith("telemetry.db")
    )
    shown = cli("telemetry", "show").stdout
    assert '"model_used":"local"' in shown and f'"prompt_length":{len(PROMPT)}' in shown
    for canary in CANARIES:
        assert canary not in wire and canary not in spooled and canary not in shown.encode()
