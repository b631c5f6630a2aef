"""Reading a request body safely: JSON only, gzip accepted, 1 MiB after decompression.

The body is read as a stream and refused (413) past 1 MiB. Gzip is inflated
only once the whole compressed body has arrived, incrementally with an output
cap, so a gzip bomb costs at most the cap in memory before it is refused with
413, and an upload that stalls holds only the bytes it sent (the connection
limits in iconiq/server/limits.py count those and drop stalled uploads).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request

from iconiq.telemetry.schema import MAX_BATCH_BYTES


class BodyError(Exception):
    """A request body the API refuses: carries the HTTP status and a short reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _check_content_type(request: Request) -> None:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise BodyError(415, "the body must be JSON (Content-Type: application/json)")


def _inflate(compressed: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)  # gzip container only
    out = bytearray()
    data = compressed
    while data:
        try:
            piece = inflater.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise BodyError(400, "the body is not valid gzip") from exc
        out += piece
        if len(out) > limit:
            raise BodyError(413, f"the body is larger than {limit} bytes once decompressed")
        data = inflater.unconsumed_tail
        if inflater.eof:
            if inflater.unused_data.strip(b"\x00") or data:
                raise BodyError(400, "trailing data after the gzip stream")
            data = b""
    if not inflater.eof:
        raise BodyError(400, "the gzip stream is truncated")
    return bytes(out)


async def _plain(chunks: AsyncIterator[bytes], limit: int) -> bytes:
    out = bytearray()
    async for chunk in chunks:
        out += chunk
        if len(out) > limit:
            raise BodyError(413, f"the body is larger than {limit} bytes")
    return bytes(out)


async def read_body(request: Request, limit: int = MAX_BATCH_BYTES) -> bytes:
    """The (decompressed) bytes of a JSON body, or BodyError (400, 413 or 415)."""
    _check_content_type(request)
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyError(413, f"the body is larger than {limit} bytes")
        except ValueError as exc:
            raise BodyError(400, "invalid Content-Length") from exc
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in {"", "identity"}:
        raw = await _plain(request.stream(), limit)
    elif encoding in {"gzip", "x-gzip"}:
        raw = _inflate(await _plain(request.stream(), limit), limit)
    else:
        raise BodyError(415, "Content-Encoding must be gzip or identity")
    if not raw.strip():
        raise BodyError(400, "the body is empty")
    return raw


def parse_json(raw: bytes) -> Any:
    """The parsed JSON value, or BodyError 400."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BodyError(400, "the body is not valid JSON") from exc
