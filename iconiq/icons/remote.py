"""Calling OpenAI's Images API (or a compatible server) with the official client.

``openai`` is imported only inside ``generate``, so nothing else in iconiq pays
for it. Every failure leaves this module as one of iconiq's errors, with a
one-line cause; the API key never appears in a message.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from iconiq import errors
from iconiq.errors import (
    ApiError,
    AuthError,
    ContentPolicy,
    IconiqError,
    InvalidInput,
    NetworkError,
    RateLimited,
    TimeoutError_,
)
from iconiq.icons.defaults import DEFAULT_RETRIES, DEFAULT_TIMEOUT
from iconiq.icons.models import ModelSpec

if TYPE_CHECKING:
    from openai import OpenAI

__all__ = ["DEFAULT_RETRIES", "DEFAULT_TIMEOUT", "Request", "Result", "client", "generate"]



@dataclass
class Request:
    """One call to the Images API, already validated against the model."""

    model: ModelSpec
    prompt: str
    n: int = 1
    size: str | None = None
    quality: str | None = None
    style: str | None = None
    transparent: bool = False
    # The file format wanted; gpt-image-1 can answer in png, webp or jpeg directly.
    fmt: str = "png"

    def params(self) -> dict[str, Any]:
        """The keyword arguments for ``client.images.generate``."""
        p: dict[str, Any] = {"model": self.model.name, "prompt": self.prompt, "n": self.n}
        p["size"] = self.size or self.model.default_size
        if self.quality:
            p["quality"] = self.quality
        if self.style:
            p["style"] = self.style
        if self.model.sends_response_format:
            p["response_format"] = "b64_json"
        else:
            p["output_format"] = self.fmt if self.fmt in {"png", "webp", "jpeg"} else "png"
            if self.transparent:
                p["background"] = "transparent"
        return p


@dataclass
class Result:
    images: list[bytes]
    revised_prompts: list[str | None] = field(default_factory=list)


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    raw = headers.get("retry-after")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def _server_message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    message = body.get("message") if isinstance(body, dict) else None
    text = str(message or getattr(exc, "message", "") or exc).replace("\n", " ").strip()
    return text[:200]


def translate(exc: BaseException, base_url: str, timeout: float) -> IconiqError:
    """The iconiq error (one line, right exit code) for an exception from the client."""
    kind = errors.classify(exc)
    status = getattr(exc, "status_code", None)
    if kind == "auth" and status == 403:
        return AuthError(f"the image API refused access (403): {_server_message(exc)}")
    if kind == "auth":
        return AuthError(
            f"the image API rejected the API key ({status}); check OPENAI_API_KEY or "
            "`iconiq config set openai.api_key`"
        )
    if kind == "rate_limit":
        wait = _retry_after(exc)
        hint = f"; retry after {wait:g}s" if wait is not None else "; try again later"
        return RateLimited(f"rate limited by the image API (429){hint}", retry_after=wait)
    if kind == "content_policy":
        return ContentPolicy("the image API refused the prompt (content policy); rephrase it")
    if kind == "timeout":
        return TimeoutError_(
            f"the image API did not answer within {timeout:g}s (raise it with --timeout)"
        )
    if kind == "network":
        return NetworkError(f"cannot reach the image API at {base_url}")
    if kind == "invalid_input":
        message = _server_message(exc)
        return InvalidInput(f"the image API rejected the request ({status}): {message}")
    if kind == "api_error":
        where = f" ({status})" if status else ""
        return ApiError(f"the image API failed{where}: {_server_message(exc)}")
    return ApiError(f"unexpected failure talking to the image API: {type(exc).__name__}")


def _decode(item: Any, timeout: float) -> bytes:
    b64 = getattr(item, "b64_json", None)
    if b64:
        try:
            return base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError("the image API sent an image that is not valid base64") from None
    url = getattr(item, "url", None)
    if url:
        import httpx

        response = httpx.get(url, timeout=timeout, follow_redirects=True)
        response.raise_for_status()
        return response.content
    raise ApiError("the image API answered without an image")


def client(*, api_key: str, base_url: str, timeout: float, retries: int) -> OpenAI:
    """The official client (importing openai happens here, and only here)."""
    import openai

    return openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=retries)


def generate(api: OpenAI, request: Request, *, base_url: str, timeout: float) -> Result:
    """Send one images request; the raw image bytes (PNG/WEBP/JPEG) it returned."""
    try:
        response = api.images.generate(**request.params())
        items = list(response.data or [])
        if not items:
            raise ApiError("the image API answered without an image")
        images = [_decode(item, timeout) for item in items]
    except IconiqError:
        raise
    except Exception as exc:  # noqa: BLE001 - every client failure becomes one line
        raise translate(exc, base_url, timeout) from exc
    finally:
        api.close()
    return Result(images, [getattr(i, "revised_prompt", None) for i in items])
