"""iconiq's errors, their exit codes, and the one classifier telemetry uses.

    IconiqError                    exit 1  error_type "internal"
    ├── InvalidInput               exit 2  "invalid_input"  bad option, bad combination, bad file
    ├── AuthError                  exit 3  "auth"           missing or rejected API key
    ├── RateLimited                exit 4  "rate_limit"     the API said 429 (carries retry_after)
    ├── ContentPolicy              exit 5  "content_policy" the API refused the prompt
    ├── NetworkError               exit 6  "network"        could not reach the API
    ├── TimeoutError_              exit 7  "timeout"        the API did not answer in time
    ├── ApiError                   exit 8  "api_error"      the API answered with an error
    └── OutputError                exit 9  "io_error"       cannot read or write a file
    Ctrl-C                         exit 130 "cancelled"

Every failure a user can meet is one of these, shown as one line on stderr.
``classify`` maps *any* exception (ours, openai's, httpx's, click's, the OS's,
Ctrl-C) to one of ``ERROR_TYPES`` without importing openai or httpx; the most
specific class in the exception's MRO decides (``APITimeoutError`` is a
``APIConnectionError`` but counts as a timeout; a 400 whose code is
``content_policy_violation`` or ``moderation_blocked`` counts as content_policy).
"""

from __future__ import annotations

ERROR_TYPES: tuple[str, ...] = (
    "auth",
    "rate_limit",
    "network",
    "timeout",
    "content_policy",
    "invalid_input",
    "api_error",
    "io_error",
    "cancelled",
    "internal",
)

EXIT_CANCELLED = 130


class IconiqError(Exception):
    """Base of every error iconiq reports to the user as one line."""

    error_type = "internal"
    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(IconiqError):
    error_type = "invalid_input"
    exit_code = 2


class AuthError(IconiqError):
    error_type = "auth"
    exit_code = 3


class RateLimited(IconiqError):
    error_type = "rate_limit"
    exit_code = 4

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ContentPolicy(IconiqError):
    error_type = "content_policy"
    exit_code = 5


class NetworkError(IconiqError):
    error_type = "network"
    exit_code = 6


class TimeoutError_(IconiqError):
    error_type = "timeout"
    exit_code = 7


class ApiError(IconiqError):
    error_type = "api_error"
    exit_code = 8


class OutputError(IconiqError):
    error_type = "io_error"
    exit_code = 9


EXIT_CODES: dict[str, int] = {
    cls.error_type: cls.exit_code
    for cls in (
        IconiqError,
        InvalidInput,
        AuthError,
        RateLimited,
        ContentPolicy,
        NetworkError,
        TimeoutError_,
        ApiError,
        OutputError,
    )
} | {"cancelled": EXIT_CANCELLED}

# openai / httpx / click exception class names, matched along the MRO so that neither
# library has to be imported to classify one of its errors.
_BY_CLASS_NAME: dict[str, str] = {
    "AuthenticationError": "auth",
    "PermissionDeniedError": "auth",
    "RateLimitError": "rate_limit",
    "APITimeoutError": "timeout",
    "TimeoutException": "timeout",
    "APIConnectionError": "network",
    "ConnectError": "network",
    "NetworkError": "network",
    "TransportError": "network",
    "RequestError": "network",
    "HTTPStatusError": "api_error",
    "HTTPError": "network",
    "ContentFilterFinishReasonError": "content_policy",
    "BadRequestError": "invalid_input",
    "UnprocessableEntityError": "invalid_input",
    "APIStatusError": "api_error",
    "APIError": "api_error",
    "OpenAIError": "api_error",
    # click as vendored by typer (or plain click)
    "Abort": "cancelled",
    "BadParameter": "invalid_input",
    "UsageError": "invalid_input",
    "ClickException": "invalid_input",
}
_LIBRARIES = ("openai", "httpx", "httpcore", "typer", "click")


def _is_content_policy(exc: BaseException) -> bool:
    code = getattr(exc, "code", None)
    if code in {"content_policy_violation", "moderation_blocked"}:
        return True
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        code = body.get("code") or (body.get("error") or {}).get("code")
        if code in {"content_policy_violation", "moderation_blocked"}:
            return True
    return False


def classify(exc: BaseException) -> str:
    """The ``error_type`` category of any exception; never a message."""
    if isinstance(exc, IconiqError):
        return exc.error_type
    if isinstance(exc, KeyboardInterrupt):
        return "cancelled"
    for cls in type(exc).__mro__:
        category = _BY_CLASS_NAME.get(cls.__name__)
        module = cls.__module__
        if category is None or not module.startswith(_LIBRARIES):
            continue
        if category in {"invalid_input", "api_error"} and _is_content_policy(exc):
            return "content_policy"
        return category
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionError):
        return "network"
    if isinstance(exc, OSError):
        return "io_error"
    if isinstance(exc, ValueError):
        return "invalid_input"
    return "internal"


def exit_code_for(error_type: str) -> int:
    return EXIT_CODES.get(error_type, 1)
