"""``errors.classify`` maps any exception to the design's error_type list.

openai's exceptions are the real ones, raised by the real client against the
loopback images server; httpx's and the OS's are real instances too.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import openai
import pytest

from iconiq import errors
from iconiq.errors import ERROR_TYPES, classify
from tests.conftest import CLOSED_LOOPBACK
from tests.support.openai_server import OpenAIServer


@pytest.fixture(scope="module")
def server() -> Iterator[OpenAIServer]:
    with OpenAIServer() as s:
        yield s


def _raised(server: OpenAIServer, behaviour: str, base_url: str | None = None) -> Exception:
    server.behaviour = behaviour
    client = openai.OpenAI(
        api_key="sk-test", base_url=base_url or server.base_url, max_retries=0, timeout=0.5
    )
    try:
        client.images.generate(prompt="x", model="dall-e-3")
    except Exception as exc:  # noqa: BLE001 - the exception is what the test is about
        return exc
    finally:
        client.close()
    raise AssertionError(f"{behaviour} did not raise")


@pytest.mark.parametrize(
    ("behaviour", "expected", "cls"),
    [
        ("401", "auth", "AuthenticationError"),
        ("429", "rate_limit", "RateLimitError"),
        ("content_policy", "content_policy", "BadRequestError"),
        ("500", "api_error", "InternalServerError"),
        ("hang", "timeout", "APITimeoutError"),
    ],
)
def test_openai_client_errors(
    server: OpenAIServer, behaviour: str, expected: str, cls: str
) -> None:
    exc = _raised(server, behaviour)
    assert type(exc).__name__ == cls
    assert classify(exc) == expected


def test_connection_refused_is_network(server: OpenAIServer) -> None:
    exc = _raised(server, "b64_json", base_url=CLOSED_LOOPBACK + "/v1")
    assert isinstance(exc, openai.APIConnectionError)
    assert classify(exc) == "network"


def test_plain_400_is_invalid_input() -> None:
    request = httpx.Request("POST", "http://127.0.0.1/v1/images/generations")
    response = httpx.Response(400, request=request)
    body = {"message": "size is wrong", "code": "invalid_size"}
    exc = openai.BadRequestError("size is wrong", response=response, body=body)  # type: ignore[arg-type]
    assert classify(exc) == "invalid_input"
    moderated = openai.BadRequestError(
        "blocked",
        response=response,  # type: ignore[arg-type]
        body={"message": "blocked", "code": "moderation_blocked"},
    )
    assert classify(moderated) == "content_policy"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (httpx.ConnectError("refused"), "network"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.RemoteProtocolError("eof"), "network"),
        (
            httpx.HTTPStatusError(
                "404",
                request=httpx.Request("GET", "http://127.0.0.1/x"),
                response=httpx.Response(404),
            ),
            "api_error",
        ),
        (KeyboardInterrupt(), "cancelled"),
        (TimeoutError(), "timeout"),
        (ConnectionRefusedError(), "network"),
        (PermissionError(13, "Permission denied"), "io_error"),
        (FileNotFoundError(2, "No such file"), "io_error"),
        (ValueError("bad"), "invalid_input"),
        (RuntimeError("bug"), "internal"),
        (errors.RateLimited("429", retry_after=1.0), "rate_limit"),
        (errors.OutputError("exists"), "io_error"),
        (errors.TimeoutError_("slow"), "timeout"),
    ],
)
def test_other_exceptions(exc: BaseException, expected: str) -> None:
    assert classify(exc) == expected


def test_click_errors() -> None:
    import typer

    app = typer.Typer()

    @app.command()
    def go() -> None:
        """One command."""

    try:  # the UsageError typer's click really raises, whatever module it lives in
        typer.main.get_command(app).main(["--nope"], standalone_mode=False)
    except typer.TyperException as exc:
        usage_error = exc
    assert type(usage_error).__name__ == "NoSuchOption"
    assert classify(usage_error) == "invalid_input"
    assert classify(typer.BadParameter("not an int")) == "invalid_input"
    assert classify(typer.Abort()) == "cancelled"


def test_every_category_has_an_exit_code() -> None:
    assert set(errors.EXIT_CODES) == set(ERROR_TYPES)
    assert len(set(errors.EXIT_CODES.values())) == len(ERROR_TYPES)
    assert errors.exit_code_for("cancelled") == 130
    assert errors.exit_code_for("no such type") == 1


def test_classify_does_not_import_openai_or_httpx() -> None:
    code = (
        "import sys\n"
        "from iconiq.errors import classify\n"
        "assert classify(OSError()) == 'io_error'\n"
        "print(sorted(m for m in ('openai', 'httpx') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_403_is_auth_with_the_servers_reason() -> None:
    from iconiq.icons.remote import translate

    request = httpx.Request("POST", "http://127.0.0.1/v1/images/generations")
    response = httpx.Response(403, request=request)
    body = {"message": "Your organization must be verified to use gpt-image-1.", "code": None}
    exc = openai.PermissionDeniedError("denied", response=response, body=body)  # type: ignore[arg-type]
    assert classify(exc) == "auth"
    err = translate(exc, "http://127.0.0.1/v1", 10)
    assert err.exit_code == 3
    assert err.message == (
        "the image API refused access (403): Your organization must be verified to use gpt-image-1."
    )
