"""A small OpenAI-compatible Images server on 127.0.0.1, for tests and demos.

It answers ``POST /v1/images/generations`` the way OpenAI does, with a
behaviour chosen by the test::

    with OpenAIServer() as server:              # ephemeral port, own thread
        server.behaviour = "b64_json"           # the default
        env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-test"}
        ...
        server.requests[-1].json["prompt"]      # what the client sent

Behaviours (``BEHAVIOURS``):

    b64_json        200, images inline as base64 (PNG/WEBP/JPEG by ``output_format``)
    url             200, image URLs served by this same server (``GET /files/<name>``)
    401             invalid API key (``code: invalid_api_key``)
    429             rate limited, with a ``Retry-After`` header (``retry_after`` seconds)
    content_policy  400 refusal, ``code: content_policy_violation`` as OpenAI sends it
    500             internal server error
    hang            accept the request and never answer (until the server stops)

``server.queue(["429", "b64_json"])`` makes the next requests behave in that order
before falling back to ``behaviour``. Requests are recorded in ``server.requests``.
The images are real PNGs of the requested size (a flat colour with a frame).

Run as a script for manual tries (``python tests/support/openai_server.py
[--port N] [--behaviour B]``): it prints its base URL and serves until Ctrl-C.
Only the standard library and Pillow are used.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

BEHAVIOURS = ("b64_json", "url", "401", "429", "content_policy", "500", "hang")
_SIZES = {"256x256", "512x512", "1024x1024", "1792x1024", "1024x1792", "1536x1024", "1024x1536"}


@dataclass
class Recorded:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    json: dict[str, Any] | None
    behaviour: str | None = None


@dataclass
class _State:
    behaviour: str = "b64_json"
    retry_after: float = 1.0
    delay: float = 0.0
    pending: deque[str] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


def make_image(size: str, fmt: str = "png", seed: int = 0, transparent: bool = False) -> bytes:
    """A real image of ``size`` ("WxH") in ``fmt``: a flat colour with a lighter frame."""
    from PIL import Image, ImageDraw

    try:
        width, height = (int(v) for v in size.lower().split("x"))
    except ValueError:
        width = height = 1024
    colour = (40 + (seed * 53) % 180, 90 + (seed * 29) % 140, 160 - (seed * 17) % 120)
    mode = "RGBA" if transparent and fmt != "jpeg" else "RGB"
    fill = colour + (255,) if mode == "RGBA" else colour
    img = Image.new(mode, (width, height), (0, 0, 0, 0) if mode == "RGBA" else colour)
    draw = ImageDraw.Draw(img)
    m = max(1, min(width, height) // 16)
    draw.rounded_rectangle((m, m, width - m, height - m), radius=m * 3, fill=fill)
    draw.rectangle((width // 3, height // 3, 2 * width // 3, 2 * height // 3), fill="white")
    buf = io.BytesIO()
    img.save(buf, format={"jpeg": "JPEG", "webp": "WEBP"}.get(fmt, "PNG"))
    return buf.getvalue()


def _error(message: str, type_: str, code: str | None, param: str | None = None) -> bytes:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return json.dumps(body).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass

    def _send(
        self, status: int, body: bytes, ctype: str = "application/json", **headers: str
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        state = self.server.state
        with state.lock:
            state.requests.append(
                Recorded("GET", self.path, {k.lower(): v for k, v in self.headers.items()}, None)
            )
            entry = state.files.get(self.path.removeprefix("/files/"))
        if entry is None:
            self._send(404, _error("not found", "invalid_request_error", None))
            return
        data, ctype = entry
        self._send(200, data, ctype)

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            payload: dict[str, Any] | None = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        with state.lock:
            behaviour = state.pending.popleft() if state.pending else state.behaviour
            state.requests.append(
                Recorded(
                    "POST",
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    payload,
                    behaviour,
                )
            )
            delay = state.delay
        if self.path.rstrip("/") != "/v1/images/generations":
            self._send(404, _error(f"unknown path {self.path}", "invalid_request_error", None))
            return
        if delay:
            state.stopping.wait(delay)
        if behaviour == "hang":
            state.stopping.wait()
            self.close_connection = True
            return
        if behaviour == "401":
            msg = "Incorrect API key provided: sk-****. You can find your API key at ..."
            self._send(401, _error(msg, "invalid_request_error", "invalid_api_key"))
        elif behaviour == "429":
            msg = "Rate limit reached for images per minute. Please try again later."
            retry = f"{state.retry_after:g}"
            self._send(429, _error(msg, "requests", "rate_limit_exceeded"), Retry_After=retry)
        elif behaviour == "content_policy":
            msg = (
                "Your request was rejected as a result of our safety system. Your prompt may "
                "contain text that is not allowed by our safety system."
            )
            self._send(400, _error(msg, "invalid_request_error", "content_policy_violation"))
        elif behaviour == "500":
            msg = "The server had an error while processing your request. Sorry about that!"
            self._send(500, _error(msg, "server_error", None))
        else:
            self._send(200, json.dumps(self._images(payload or {}, behaviour)).encode())

    def _images(self, payload: dict[str, Any], behaviour: str) -> dict[str, Any]:
        state = self.server.state
        size = str(payload.get("size") or "1024x1024")
        if size not in _SIZES:
            size = "1024x1024"
        fmt = str(payload.get("output_format") or "png")
        transparent = payload.get("background") == "transparent"
        n = int(payload.get("n") or 1)
        use_url = behaviour == "url" or payload.get("response_format") == "url"
        data: list[dict[str, Any]] = []
        for i in range(n):
            image = make_image(size, fmt, seed=len(state.requests) * 7 + i, transparent=transparent)
            item: dict[str, Any] = {"revised_prompt": payload.get("prompt")}
            if use_url:
                name = f"img-{len(state.requests)}-{i}.{fmt}"
                with state.lock:
                    state.files[name] = (image, f"image/{fmt}")
                host, port = self.server.server_address[:2]
                item["url"] = f"http://{host}:{port}/files/{name}"
            else:
                item["b64_json"] = base64.b64encode(image).decode()
            data.append(item)
        return {"created": int(time.time()), "data": data}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: _State, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state


class OpenAIServer:
    """The images server as a context manager (starts on enter, stops on exit)."""

    def __init__(self, behaviour: str = "b64_json", port: int = 0) -> None:
        self._state = _State()
        self.behaviour = behaviour
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def behaviour(self) -> str:
        return self._state.behaviour

    @behaviour.setter
    def behaviour(self, value: str) -> None:
        if value not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {value!r}; one of {', '.join(BEHAVIOURS)}")
        self._state.behaviour = value

    @property
    def retry_after(self) -> float:
        """Seconds sent in the 429's ``Retry-After`` header (default 1)."""
        return self._state.retry_after

    @retry_after.setter
    def retry_after(self, value: float) -> None:
        self._state.retry_after = value

    @property
    def delay(self) -> float:
        """Seconds to wait before answering any images request (default 0)."""
        return self._state.delay

    @delay.setter
    def delay(self, value: float) -> None:
        self._state.delay = value

    def queue(self, behaviours: list[str]) -> None:
        """Behaviours for the next requests, in order, before ``behaviour`` applies again."""
        for b in behaviours:
            if b not in BEHAVIOURS:
                raise ValueError(f"unknown behaviour {b!r}")
        with self._state.lock:
            self._state.pending.extend(behaviours)

    @property
    def requests(self) -> list[Recorded]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def image_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """What to put in ``OPENAI_BASE_URL`` (ends in ``/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def env(self, api_key: str = "sk-test-0123456789abcdef") -> dict[str, str]:
        """Environment variables that point the openai client here."""
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": api_key}

    def start(self) -> OpenAIServer:
        self._httpd = _Server(self._state, self._port)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._state.stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="OpenAI-compatible images server for tests")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--behaviour", default="b64_json", choices=BEHAVIOURS)
    args = parser.parse_args()
    with OpenAIServer(args.behaviour, args.port) as server:
        print(server.base_url, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    _main()
