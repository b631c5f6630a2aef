"""Random ids (event, session and install ids), without importing ``uuid``.

``uuid`` costs a command about 1 ms of import; the ids are plain random UUIDv4
strings, made here from ``os.urandom``.
"""

from __future__ import annotations

import os


def uuid4() -> str:
    """A random UUIDv4 string."""
    b = bytearray(os.urandom(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
