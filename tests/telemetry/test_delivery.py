"""Delivery to the real ``iconiq-server`` (a subprocess on loopback), through a
fault-injecting proxy: outages, kill -9 mid-batch, chaos. Exactly once, no loss."""

from __future__ import annotations

import datetime as dt
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from freezegun import freeze_time

from iconiq.run import Run
from iconiq.telemetry import hooks, manage
from iconiq.telemetry import status as telemetry_status
from iconiq.telemetry.spawn import spawn_flusher
from tests.support.chaos_proxy import ChaosProxy, Faults
from tests.support.server import ServerHandle, running_server, stored
from tests.telemetry.conftest import (
    cli,
    fill_spool,
    flusher_pids,
    pending,
    wait_no_flusher,
    wait_until,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with running_server() as srv:
        yield srv


@pytest.fixture
def proxy(server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[ChaosProxy]:
    with ChaosProxy(server.base_url, faults=Faults(), seed=7) as p:
        monkeypatch.setenv("ICONIQ_TELEMETRY_ENDPOINT", p.url)
        yield p


def spool_ids(spool: Path) -> list[str]:
    from iconiq.telemetry.spool import Spool

    with Spool(spool) as s:
        return [q.event_id for q in s.iter_all()]


def test_delivery_after_an_outage(
    server: ServerHandle, proxy: ChaosProxy, spool_path: Path, noticed: Path
) -> None:
    ids = fill_spool(spool_path, 1200)
    proxy.set_faults(Faults(error_500=1.0))
    assert cli("config", "path").returncode == 0  # records and starts a flusher
    assert wait_until(lambda: proxy.snapshot().get("error_500", 0) >= 1, 30)
    wait_no_flusher(spool_path)
    info = telemetry_status.read()
    assert info.pending == 1201 and info.last_error == "HTTP 500"
    assert info.next_attempt is not None and stored(server, ids) == {}

    # Still in the backoff window: a command queues its event but starts nothing.
    before = proxy.snapshot().get("error_500", 0)
    assert cli("config", "path").returncode == 0
    assert flusher_pids(spool_path) == []
    assert proxy.snapshot().get("error_500", 0) == before

    # The outage ends and the window passes: the next command delivers everything.
    proxy.set_faults(Faults())
    all_ids = spool_ids(spool_path)
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
    with freeze_time(later):
        hooks.after_command(Run(command="config", invoked=True, success=True))
    assert wait_until(lambda: pending(spool_path) == 0, 60)
    wait_no_flusher(spool_path)
    counts = stored(server, all_ids)
    assert len(all_ids) == 1202 and counts == {i: 1 for i in all_ids}
    assert telemetry_status.read().last_upload is not None


def test_kill_9_mid_batch_then_no_loss_no_duplicate(
    server: ServerHandle, proxy: ChaosProxy, spool_path: Path
) -> None:
    ids = fill_spool(spool_path, 1300)
    # The server stores the batch, then its answer trickles in: the flusher is mid-batch.
    proxy.set_faults(Faults(slow_body=1.0, slow_chunk_delay=1.0))
    spawn_flusher(spool_path)
    assert wait_until(lambda: proxy.snapshot().get("forwarded", 0) >= 1, 30)
    assert wait_until(lambda: len(stored(server, ids)) >= 500, 30)
    [pid] = flusher_pids(spool_path)
    os.kill(pid, signal.SIGKILL)
    wait_no_flusher(spool_path, 10)
    assert pending(spool_path) == 1300  # nothing was deleted without its 2xx

    proxy.set_faults(Faults())
    result = cli("telemetry", "flush")  # the dead flusher's lock is gone with it
    assert result.returncode == 0, result.stderr
    assert "500 already on the server" in result.stdout
    assert pending(spool_path) == 0
    assert stored(server, ids) == {i: 1 for i in ids}


def test_exactly_once_through_chaos(
    server: ServerHandle, proxy: ChaosProxy, spool_path: Path
) -> None:
    ids = fill_spool(spool_path, 2000)
    proxy.set_faults(
        Faults(
            error_500=0.15, rate_limit=0.1, reset=0.1, lost_ack=0.2, too_large=0.1, retry_after=0
        )
    )
    for _ in range(30):
        if manage.flush_now().delivered:
            break
    assert pending(spool_path) == 0
    assert stored(server, ids) == {i: 1 for i in ids}
    snapshot = proxy.snapshot()
    assert snapshot.get("lost_ack", 0) >= 1 and snapshot.get("error_500", 0) >= 1


def test_purge_remote_erases_this_install_on_the_server(
    server: ServerHandle, proxy: ChaosProxy, spool_path: Path
) -> None:
    ids = fill_spool(spool_path, 30)
    assert manage.flush_now().delivered
    assert stored(server, ids) == {i: 1 for i in ids}
    old = telemetry_status.read().install_id
    result = cli("telemetry", "purge", "--remote")
    assert result.returncode == 0, result.stderr
    assert stored(server, ids) == {}
    assert telemetry_status.read().install_id not in (None, old)
