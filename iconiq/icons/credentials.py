"""Where the OpenAI key and base URL come from.

Key: ``OPENAI_API_KEY``, else the ``openai.api_key`` setting (stored 0600).
Base URL: ``--base-url``, else ``OPENAI_BASE_URL``, else ``openai.base_url``,
else OpenAI's own. The key is never printed except through ``settings.mask``.
"""

from __future__ import annotations

import os

from iconiq import settings
from iconiq.errors import AuthError, InvalidInput

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def api_key() -> str:
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if not key:
        stored = settings.get("openai.api_key")
        key = stored.strip() if isinstance(stored, str) else ""
    if not key:
        raise AuthError(
            "no OpenAI API key: set OPENAI_API_KEY or run `iconiq config set openai.api_key`"
            " (or use --model local, which needs none)"
        )
    return key


def base_url(option: str | None = None) -> str:
    url = (option or "").strip() or os.environ.get("OPENAI_BASE_URL", "").strip()
    if not url:
        stored = settings.get("openai.base_url")
        url = stored.strip() if isinstance(stored, str) else ""
    url = url or DEFAULT_BASE_URL
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"base URL must start with http:// or https://, not {url!r}")
    return url.rstrip("/")
