"""The collection API contract, over real HTTP against a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from iconiq.server.calendar import DAY_MS
from iconiq.server.storage.base import Store
from tests.server.conftest import make_event, stored
from tests.support.server import ServerHandle, running_server


def post(server: ServerHandle, path: str, body: bytes, **headers: str) -> httpx.Response:
    hdrs = {"Content-Type": "application/json", **headers}
    return httpx.post(server.base_url + path, content=body, headers=hdrs, timeout=30)


def test_healthz_is_open(server: ServerHandle) -> None:
    r = httpx.get(server.base_url + "/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_track_stores_once_and_counts_duplicates(server: ServerHandle, store: Store) -> None:
    event = make_event()
    r1 = httpx.post(server.base_url + "/v1/track", json=event)
    r2 = httpx.post(server.base_url + "/v1/track", json=event)
    assert r1.status_code == r2.status_code == 200
    assert r1.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert r2.json() == {"accepted": 0, "duplicates": 1, "rejected": []}
    rows = stored(store, "event_id = ?", (event["event_id"],))
    assert len(rows) == 1
    row = rows[0]
    assert str(row["install_id"]) == event["install_id"]
    assert bool(row["success"]) is True and row["timestamp"] == event["timestamp"]
    flags = row["flags"] if store.dialect == "postgres" else json.loads(row["flags"])
    assert flags == ["--model", "--size"]
    assert row["country"] is None  # loopback has no country
    assert abs(row["received_at"] - time.time() * 1000) < 60_000


def test_batch_mixed_answer_is_honest(server: ServerHandle, store: Store) -> None:
    first, second = make_event(), make_event(command="config", success=False, error_type="auth")
    httpx.post(server.base_url + "/v1/track", json=first)
    now = int(time.time() * 1000)
    events = [
        first,  # already stored
        second,
        second,  # twice in the same batch
        {**make_event(), "schema": 2},
        make_event(timestamp=now - 800 * DAY_MS),
        make_event(timestamp=now + 2 * DAY_MS),
        make_event(error_type="Traceback: secret message"),
        "not an object",
        make_event(success="yes"),
        make_event(flags=["--prompt=my secret prompt"]),
    ]
    r = httpx.post(server.base_url + "/v1/batch", json={"events": events})
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 1
    assert body["duplicates"] == 2
    assert [rej["index"] for rej in body["rejected"]] == [3, 4, 5, 6, 7, 8, 9]
    assert all(rej["error"] for rej in body["rejected"])
    assert "secret" not in r.text
    assert len(stored(store, "event_id = ?", (second["event_id"],))) == 1


def test_unknown_fields_are_ignored_and_never_stored(server: ServerHandle, store: Store) -> None:
    event = make_event(prompt="CANARY-PROMPT-TEXT", api_key="sk-CANARY", extra={"a": 1})
    r = httpx.post(server.base_url + "/v1/batch", json={"events": [event], "meta": "x"})
    assert r.json()["accepted"] == 1
    (row,) = stored(store, "event_id = ?", (event["event_id"],))
    assert "CANARY" not in repr(row)
    assert "prompt" not in row and "api_key" not in row


def test_gzip_batch_is_accepted(server: ServerHandle) -> None:
    events = [make_event() for _ in range(50)]
    body = gzip.compress(json.dumps({"events": events}).encode())
    r = post(server, "/v1/batch", body, **{"Content-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.json()["accepted"] == 50


def test_gzip_bomb_is_refused_with_413(server: ServerHandle) -> None:
    # 64 MiB of zeros inside valid JSON compresses to ~64 KiB; the server must stop at 1 MiB.
    raw = b'{"events": ["' + b"0" * (64 * 1024 * 1024) + b'"]}'
    bomb = gzip.compress(raw, compresslevel=9)
    assert len(bomb) < 200_000
    r = post(server, "/v1/batch", bomb, **{"Content-Encoding": "gzip"})
    assert r.status_code == 413
    assert httpx.get(server.base_url + "/healthz").status_code == 200


def test_body_over_one_mib_is_413(server: ServerHandle) -> None:
    events = [make_event(pad="x" * 3000) for _ in range(400)]
    body = json.dumps({"events": events}).encode()
    assert len(body) > 1024 * 1024
    assert post(server, "/v1/batch", body).status_code == 413

    def chunked() -> Iterator[bytes]:  # no Content-Length: the cap applies while streaming
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    r = httpx.post(
        server.base_url + "/v1/batch",
        content=chunked(),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413


def test_more_than_500_events_is_413(server: ServerHandle) -> None:
    r = httpx.post(server.base_url + "/v1/batch", json={"events": [make_event()] * 501})
    assert r.status_code == 413
    assert "500" in r.json()["error"]


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"{not json", {}, 400),
        (b"", {}, 400),
        (b'{"events": "nope"}', {}, 400),
        (b"[]", {}, 400),
        (b"\x1f\x8b\x08\x00garbage", {"Content-Encoding": "gzip"}, 400),
        (b'{"events": []}', {"Content-Type": "text/plain"}, 415),
        (b'{"events": []}', {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        (b'{"events": []}', {"Content-Encoding": "br"}, 415),
    ],
)
def test_refused_bodies(
    server: ServerHandle, body: bytes, headers: dict[str, str], status: int
) -> None:
    r = post(server, "/v1/batch", body, **headers)
    assert r.status_code == status
    assert "error" in r.json()
    assert "Traceback" not in r.text


def test_empty_batch_is_fine(server: ServerHandle) -> None:
    r = post(server, "/v1/batch", b'{"events": []}')
    assert r.json() == {"accepted": 0, "duplicates": 0, "rejected": []}


def test_track_with_invalid_event_is_rejected_in_a_200(server: ServerHandle) -> None:
    r = httpx.post(server.base_url + "/v1/track", json={"command": "icon"})
    assert r.status_code == 200
    assert r.json()["accepted"] == 0 and r.json()["rejected"][0]["index"] == 0


def test_erase_install(server: ServerHandle, store: Store) -> None:
    install = str(uuid.uuid4())
    other = make_event()
    events = [make_event(install_id=install) for _ in range(3)] + [other]
    httpx.post(server.base_url + "/v1/batch", json={"events": events})
    r = httpx.delete(f"{server.base_url}/v1/installs/{install}")
    assert r.status_code == 200
    assert r.json() == {"install_id": install, "erased": 3}
    assert stored(store, "install_id = ?", (install,)) == []
    assert len(stored(store, "event_id = ?", (other["event_id"],))) == 1
    again = httpx.delete(f"{server.base_url}/v1/installs/{install}")
    assert again.json()["erased"] == 0
    assert httpx.delete(f"{server.base_url}/v1/installs/not-a-uuid").status_code == 400


def test_rate_limit_answers_429_with_retry_after(db_url: str) -> None:
    with running_server(db_url, env={"ICONIQ_RATE_LIMIT": "3/minute"}) as srv:
        codes = [
            httpx.post(srv.base_url + "/v1/track", json=make_event()).status_code for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        r = httpx.post(srv.base_url + "/v1/batch", json={"events": [make_event()]})
        assert r.status_code == 429
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert httpx.get(srv.base_url + "/healthz").status_code == 200
