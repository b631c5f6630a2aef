"""Connection limits of ``iconiq-server serve``: what uvicorn bounds, and what this module adds.

The server is public, so every connection is bounded in size and time whatever
the client does. ``serve`` builds its uvicorn configuration with
``LimitedConfig(app, settings)``; each limit is a ServerSettings field read once
from the environment (docs/server.md, "Running it on the internet"):

    limit                      setting                      enforced by
    open connections           ICONIQ_MAX_CONNECTIONS       uvicorn limit_concurrency (503)
    request line + headers     ICONIQ_MAX_HEADER_BYTES      LimitedH11Protocol and h11 (431)
    time to receive headers    ICONIQ_HEADER_TIMEOUT        LimitedH11Protocol (408, or close)
    time to receive the body   ICONIQ_BODY_TIMEOUT          LimitedH11Protocol (408)
    longest pause in a body    ICONIQ_BODY_IDLE_TIMEOUT     LimitedH11Protocol (408)
    bodies held while arriving ICONIQ_UPLOAD_MEMORY         LimitedH11Protocol (408, stalest first)
    idle keep-alive            ICONIQ_KEEP_ALIVE_TIMEOUT    uvicorn timeout_keep_alive

Why h11 and a subclass: httptools (uvicorn's choice when it is installed) puts no
bound on a header's size, so one header that never ends grows the process
without limit; h11 bounds a head that arrives in pieces, and LimitedH11Protocol one
that arrives whole in a single read. Neither uvicorn protocol has
a deadline for *receiving* a request: its keep-alive timer runs only between
requests, so a connection that sends nothing, or a header or a body one byte at
a time, stays open for ever, and a body that stops one byte short holds its
megabyte until the client goes. ``LimitedH11Protocol`` adds those deadlines and
the upload memory budget in a few callbacks, reading only h11's public
connection state (``their_state``, ``our_state``, ``trailing_data``); the answer
it writes itself (408, 431) is a complete response with ``Connection: close``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState

from iconiq.server.config import ServerSettings

MIB = 1024 * 1024
MAX_HEAD_DEFAULT = 16 * 1024  # h11's own default
_HEAD_END = re.compile(rb"\n\r?\n")  # where h11 ends a head


@dataclass(frozen=True)
class Deadlines:
    """The limits uvicorn has no option for: seconds, and bytes of bodies in memory."""

    header: float = 10.0
    body: float = 60.0
    body_idle: float = 10.0
    upload_memory: int = 64 * MIB

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> Deadlines:
        return cls(
            header=float(settings.header_timeout),
            body=float(settings.body_timeout),
            body_idle=float(settings.body_idle_timeout),
            upload_memory=settings.upload_memory_mib * MIB,
        )


class LimitedConfig(uvicorn.Config):
    """uvicorn's Config with every connection limit set; ``--workers`` processes get it pickled."""

    def __init__(self, app: Any, settings: ServerSettings, **kwargs: Any) -> None:
        self.deadlines = Deadlines.from_settings(settings)
        super().__init__(
            app,
            http=LimitedH11Protocol,
            ws="none",  # no WebSocket routes: an Upgrade must not escape these limits
            limit_concurrency=settings.max_connections,
            h11_max_incomplete_event_size=settings.max_header_bytes,
            timeout_keep_alive=settings.keep_alive_timeout,
            **kwargs,
        )


def raise_open_file_limit(connections: int) -> int:
    """Lift this process's soft open-file limit toward what ``connections`` need (plus room
    for the database and logs), never above the hard limit; the limit now in force."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + 256
    if soft == resource.RLIM_INFINITY or soft >= want:
        return want
    new = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if new > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return soft


class _Uploads:
    """Body bytes received by this process for requests whose body is not complete yet.

    When they exceed the budget, the upload that made progress least recently
    (a stalled one, under attack) is answered 408 and closed, so a client that is
    sending keeps its place and memory stays bounded however many uploads stall.
    """

    def __init__(self) -> None:
        self.held: OrderedDict[LimitedH11Protocol, int] = OrderedDict()
        self.total = 0

    def add(self, upload: LimitedH11Protocol, size: int, budget: int) -> None:
        self.held[upload] = self.held.get(upload, 0) + size
        self.held.move_to_end(upload)
        self.total += size
        while self.total > budget:
            stalest = next(iter(self.held))
            if stalest is upload:  # alone over the budget: no route takes a body that large
                if self.held[upload] > budget:
                    upload.expire("the request body is too large", status=413)
                break
            stalest.expire("the server needed the memory of this stalled upload; retry")
            self.release(stalest)  # already done by expire; kept so the loop always ends

    def release(self, upload: LimitedH11Protocol) -> None:
        self.total -= self.held.pop(upload, 0)


_UPLOADS = _Uploads()


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with deadlines for a request's head and body.

    One timer per connection follows the request: "head" from the connection's
    start (or the first byte of a following request) until the headers are
    complete, then "body" until the body is complete (total and idle deadlines).
    """

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        deadlines = getattr(config, "deadlines", None)
        self.deadlines = deadlines if isinstance(deadlines, Deadlines) else Deadlines()
        self._phase: str | None = None  # "head" or "body": whose deadline runs
        self._timer: asyncio.TimerHandle | None = None
        self._started = 0.0
        self._progress = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._begin("head")

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase is None and self.conn.their_state is h11.IDLE:
            self._begin("head")  # the first bytes of the next request on a kept-alive connection
        if self._phase == "head":
            if self._head_too_large(data):
                limit = self.config.h11_max_incomplete_event_size or MAX_HEAD_DEFAULT
                self._end()
                self._refuse(431, f"the request line and headers exceed {limit} bytes")
                return
        elif self._phase == "body":
            self._progress = self.loop.time()
            if self.conn.our_state is h11.SEND_RESPONSE:  # once answered, the rest is dropped
                _UPLOADS.add(self, len(data), self.deadlines.upload_memory)
        super().data_received(data)
        self._follow(len(data))

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow(0)  # a pipelined request may have moved on

    def _head_too_large(self, data: bytes) -> bool:
        """Whether the head being received (h11's buffer, then ``data``) passes the limit.

        h11 bounds only a head still incomplete; one that arrives whole in a single read
        (up to the event loop's read size) it accepts, so the end is looked for here.
        """
        limit = self.config.h11_max_incomplete_event_size or MAX_HEAD_DEFAULT
        held = self.conn.trailing_data[0]
        seam = held[-2:]
        end = _HEAD_END.search(seam + data)
        size = len(held) + len(data) if end is None else len(held) - len(seam) + end.end()
        return size > limit

    def expire(self, message: str, status: int = 408) -> None:
        """Stop waiting for this request: 408 if it sent something and nothing was answered."""
        sent = self._phase == "body" or bool(self.conn.trailing_data[0])
        self._end()
        if sent:
            self._refuse(status, message)
        elif not self.transport.is_closing():
            self.transport.close()

    def _follow(self, received: int) -> None:
        """Move the deadline along with the request: head, then body, then none."""
        state = self.conn.their_state
        if (self._phase == "head" and state is not h11.IDLE) or (
            self._phase == "body" and state is not h11.SEND_BODY
        ):
            self._end()
        if self._phase is None and state is h11.SEND_BODY and not self.transport.is_closing():
            self._begin("body")
            # The chunk that ended the head may carry body bytes: count it all.
            _UPLOADS.add(self, received, self.deadlines.upload_memory)

    def _begin(self, phase: str) -> None:
        self._end()
        self._phase = phase
        self._started = self._progress = self.loop.time()
        d = self.deadlines
        delay = d.header if phase == "head" else min(d.body, d.body_idle)
        self._timer = self.loop.call_later(delay, self._check)

    def _end(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._phase == "body":
            _UPLOADS.release(self)
        self._phase = None

    def _check(self) -> None:
        self._timer = None
        d = self.deadlines
        if self._phase == "head":
            self.expire(f"the request headers did not arrive within {d.header:g} s")
            return
        now = self.loop.time()
        due = min(self._started + d.body, self._progress + d.body_idle)
        if now < due:
            self._timer = self.loop.call_later(due - now, self._check)
        elif now >= self._started + d.body:
            self.expire(f"the request body did not arrive within {d.body:g} s")
        else:
            self.expire(f"the request body stalled for {d.body_idle:g} s")

    def _refuse(self, status: int, message: str) -> None:
        """Write a complete JSON error answer (when no answer has started), then close."""
        # IDLE: no request yet; SEND_RESPONSE: a request, and no answer started.
        unanswered = self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE)
        if unanswered and not self.transport.is_closing():
            body = json.dumps({"error": message}).encode()
            head = (
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
                "connection: close\r\n\r\n"
            )
            self.transport.write(head.encode() + body)
        if not self.transport.is_closing():
            self.transport.close()
