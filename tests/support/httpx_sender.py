"""httpx behind telemetry's sender seam, for unit tests of the answer handling.

    with HttpxSender(httpx.MockTransport(handler)) as http:
        flush.deliver(spool, http, "https://collector.test", deadline=...)

iconiq itself sends with ``http.client`` (``iconiq.telemetry.sender``: cheaper to
start); everything above the seam (``transport.post_batch``'s reading of the
answer, ``flush``'s retries and 413 splitting) is the same code whichever sender
is used, so a mock transport tests it without a socket. End-to-end tests keep
the real sender and a real server.
"""

from __future__ import annotations

import httpx

from iconiq.telemetry.sender import Answer, NetworkError


class HttpxSender:
    def __init__(self, transport: httpx.BaseTransport) -> None:
        self.client = httpx.Client(transport=transport, follow_redirects=False)
        self.requests: list[httpx.Request] = []

    def __enter__(self) -> HttpxSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def send(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], timeout: float
    ) -> Answer:
        try:
            response = self.client.request(
                method, url, content=body, headers=headers, timeout=timeout
            )
        except httpx.TimeoutException as exc:
            raise NetworkError("timeout") from exc
        except httpx.TransportError as exc:
            raise NetworkError("connection failed") from exc
        self.requests.append(response.request)
        return Answer(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
        )
