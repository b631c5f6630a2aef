"""What an answer means is decided once (``transport._failure``) for every request:
the batch upload and ``purge --remote``'s erasure read a status the same way.
Through the sender seam with ``httpx.MockTransport``; end-to-end tests keep the
real sender and server."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from iconiq.telemetry import transport
from tests.support.httpx_sender import HttpxSender

URL = "https://collector.test"


def _both(http: HttpxSender) -> list[Callable[[], object]]:
    return [
        lambda: transport.post_batch(http, URL, ['{"event_id":"e"}']),
        lambda: transport.delete_install(http, URL, "5b0a3c1e-2f4d-4a6b-8c9d-0e1f2a3b4c5d"),
    ]


@pytest.mark.parametrize(
    ("status", "headers", "error", "reason", "wait"),
    [
        (429, {"Retry-After": "7"}, transport.Retryable, "HTTP 429", 7.0),
        (503, {}, transport.Retryable, "HTTP 503", None),
        (408, {}, transport.Retryable, "HTTP 408", None),
        (404, {}, transport.Refused, "HTTP 404", None),
        (401, {"Retry-After": "2"}, transport.Refused, "HTTP 401", 2.0),
        (302, {"Location": "https://elsewhere.test/"}, transport.NotTheApi, "HTTP 302", None),
    ],
)
def test_upload_and_erasure_read_an_answer_alike(
    status: int,
    headers: dict[str, str],
    error: type[transport.SendError],
    reason: str,
    wait: float | None,
) -> None:
    answer = httpx.MockTransport(lambda r: httpx.Response(status, headers=headers))
    with HttpxSender(answer) as http:
        for call in _both(http):
            with pytest.raises(error) as caught:
                call()
            assert type(caught.value) is error
            assert reason in caught.value.reason and caught.value.retry_after == wait
        assert [r.method for r in http.requests] == ["POST", "DELETE"]


def test_a_413_splits_an_upload_but_refuses_an_erasure() -> None:
    with HttpxSender(httpx.MockTransport(lambda r: httpx.Response(413))) as http:
        upload, erase = _both(http)
        with pytest.raises(transport.TooLarge):
            upload()
        with pytest.raises(transport.Refused) as caught:
            erase()
        assert caught.value.reason == "HTTP 413"


def test_an_erasure_succeeds_on_any_2xx() -> None:
    for status in (200, 202, 204):
        with HttpxSender(httpx.MockTransport(lambda r, s=status: httpx.Response(s))) as http:
            transport.delete_install(http, URL, "id")  # no SendError
            assert [r.url.path for r in http.requests] == ["/v1/installs/id"]
