"""A threaded HTTP server on 127.0.0.1:<ephemeral> for test endpoints that are not iconiq-server.

    class Collector(LoopbackServer):
        def __init__(self) -> None:
            super().__init__(_handler(self))   # a BaseHTTPRequestHandler subclass

    with Collector() as c:
        c.url                                  # http://127.0.0.1:<port>
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackServer:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping()
        self._server.shutdown()
        self._server.server_close()

    def stopping(self) -> None:
        """Called first on exit (release handlers that are holding requests)."""
