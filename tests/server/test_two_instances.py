"""Several stateless servers sharing one PostgreSQL: each event is stored once."""

from __future__ import annotations

import threading

import httpx
import pytest

from iconiq.server.storage.base import open_store
from tests.server.conftest import make_event, stored
from tests.support.pg import fresh_database
from tests.support.server import running_server

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_same_events_sent_to_two_instances_are_stored_once() -> None:
    events = [make_event() for _ in range(300)]
    with fresh_database() as url, running_server(url) as one, running_server(url) as two:
        answers: list[dict[str, int]] = []
        lock = threading.Lock()

        def send(base: str, chunk: list[dict[str, object]]) -> None:
            r = httpx.post(base + "/v1/batch", json={"events": chunk}, timeout=30)
            assert r.status_code == 200
            with lock:
                answers.append(r.json())

        threads = [
            threading.Thread(target=send, args=(srv.base_url, events[start : start + 100]))
            for srv in (one, two, one, two)
            for start in (0, 100, 200)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(answers) == 12
        assert sum(a["accepted"] for a in answers) == 300
        assert sum(a["duplicates"] for a in answers) == 900
        store = open_store(url, pool_size=1)
        try:
            ids = tuple(e["event_id"] for e in events)
            marks = ", ".join("?" for _ in ids)
            assert len(stored(store, f"event_id IN ({marks})", ids)) == 300
            assert store.count() == 300
        finally:
            store.close()
