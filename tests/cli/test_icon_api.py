"""``iconiq icon`` with the real openai client against the loopback images server.

Every failure must be one line on stderr with its documented exit code, and a
bad combination or a missing key must cost no request at all.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from tests.cli.conftest import ICONIQ, Runner
from tests.conftest import CLOSED_LOOPBACK
from tests.support.openai_server import OpenAIServer

KEY = "sk-test-0123456789abcdef"


def _one_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("iconiq: error: ")
    assert "Traceback" not in stderr
    return lines[0]


def test_dall_e_3_b64_json(iconiq: Runner, openai_server: OpenAIServer, tmp_path: Path) -> None:
    result = iconiq(
        "icon", "-p", "a fox", "--quality", "hd", "--style", "natural", "--json",
        env=openai_server.env(KEY),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == "dall-e-3" and data["revised_prompts"] == ["a fox"]
    assert isinstance(data["api_time_ms"], int)
    (request,) = openai_server.image_requests
    assert request.json == {
        "model": "dall-e-3",
        "prompt": "a fox",
        "n": 1,
        "size": "1024x1024",
        "quality": "hd",
        "style": "natural",
        "response_format": "b64_json",
    }
    assert request.headers["authorization"] == f"Bearer {KEY}"
    with Image.open(tmp_path / "a-fox.png") as img:
        assert img.size == (1024, 1024)


def test_url_responses_are_downloaded(
    iconiq: Runner, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    openai_server.behaviour = "url"
    result = iconiq(
        "icon", "-p", "owl", "-m", "dall-e-2", "-n", "2", "--size", "256x256", "-f", "ico",
        env=openai_server.env(KEY),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(tmp_path / "owl-1.ico"), str(tmp_path / "owl-2.ico")]
    downloads = [r for r in openai_server.requests if r.method == "GET"]
    assert len(downloads) == 2
    with Image.open(tmp_path / "owl-1.ico") as img:
        assert (256, 256) in img.info["sizes"]


def test_gpt_image_1_transparent_webp(
    iconiq: Runner, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    result = iconiq(
        "icon", "-p", "leaf", "-m", "gpt-image-1", "--transparent", "-f", "webp",
        "--quality", "low", env=openai_server.env(KEY),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (request,) = openai_server.image_requests
    assert request.json is not None
    assert request.json["background"] == "transparent"
    assert request.json["output_format"] == "webp"
    assert "response_format" not in request.json  # gpt-image-1 rejects it
    with Image.open(tmp_path / "leaf.webp") as img:
        assert img.mode == "RGBA"
        assert img.getpixel((0, 0))[3] == 0


def test_key_from_settings_and_base_url_option(iconiq: Runner, openai_server: OpenAIServer) -> None:
    assert iconiq("config", "set", "openai.api_key", KEY).returncode == 0
    result = iconiq("icon", "-p", "x", "--base-url", openai_server.base_url)
    assert result.returncode == 0, result.stderr
    assert openai_server.image_requests[0].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("behaviour", "code", "words"),
    [
        ("401", 3, "rejected the API key (401)"),
        ("429", 4, "rate limited by the image API (429); retry after 1s"),
        ("content_policy", 5, "refused the prompt (content policy)"),
        ("500", 8, "the image API failed (500)"),
    ],
)
def test_api_failures(
    iconiq: Runner, openai_server: OpenAIServer, behaviour: str, code: int, words: str
) -> None:
    openai_server.behaviour = behaviour
    started = time.monotonic()
    result = iconiq("icon", "-p", "x", "--retries", "0", env=openai_server.env(KEY))
    assert time.monotonic() - started < 20  # no long retry loop (a loaded machine is slow)
    assert result.returncode == code, result.stderr
    line = _one_line(result.stderr)
    assert words in line
    assert KEY not in result.stderr and KEY[-8:] not in result.stderr
    assert result.stdout == ""


def test_rate_limit_is_retried_honouring_retry_after(
    iconiq: Runner, openai_server: OpenAIServer
) -> None:
    openai_server.retry_after = 0.2
    openai_server.queue(["429", "500", "b64_json"])
    result = iconiq("icon", "-p", "x", "--retries", "2", env=openai_server.env(KEY))
    assert result.returncode == 0, result.stderr
    assert [r.behaviour for r in openai_server.image_requests] == ["429", "500", "b64_json"]


def test_hang_times_out(iconiq: Runner, openai_server: OpenAIServer) -> None:
    openai_server.behaviour = "hang"
    started = time.monotonic()
    result = iconiq(
        "icon", "-p", "x", "--timeout", "0.5", "--retries", "0", env=openai_server.env(KEY)
    )
    assert time.monotonic() - started < 20  # no long retry loop (a loaded machine is slow)
    assert result.returncode == 7
    assert "did not answer within 0.5s" in _one_line(result.stderr)


def test_network_down(iconiq: Runner) -> None:
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": CLOSED_LOOPBACK + "/v1"}
    result = iconiq("icon", "-p", "x", "--retries", "0", env=env)
    assert result.returncode == 6
    assert "cannot reach the image API at http://127.0.0.1:9/v1" in _one_line(result.stderr)


def test_missing_key_sends_nothing(iconiq: Runner, openai_server: OpenAIServer) -> None:
    result = iconiq("icon", "-p", "x", env={"OPENAI_BASE_URL": openai_server.base_url})
    assert result.returncode == 3
    assert "no OpenAI API key" in _one_line(result.stderr)
    assert openai_server.requests == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-m", "dall-e-3", "-n", "2"], "dall-e-3 makes at most 1 image(s) per request, not 2"),
        (["-m", "dall-e-3", "--size", "512x512"], "dall-e-3 takes --size 1024x1024 | 1792x1024"),
        (["-m", "dall-e-2", "--style", "vivid"], "dall-e-2 does not take --style"),
        (["-m", "gpt-image-1", "--quality", "hd"], "gpt-image-1 takes --quality low | medium"),
        (["-m", "dall-e-3", "--transparent"], "dall-e-3 cannot make a transparent background"),
        (["-m", "gpt-image-1", "--transparent", "-f", "jpeg"], "jpeg has no transparency"),
        (["-m", "midjourney"], "unknown model 'midjourney'"),
        (["-f", "gif"], "--format takes png | webp | jpeg | ico | icns, not 'gif'"),
        (["-f", "ico", "--sizes", "16,512"], "ico holds sizes up to 256, not 512"),
        (["-f", "icns", "--sizes", "16"], "--sizes does not apply to icns"),
        (["--sizes", "16,big"], "--sizes takes whole pixel sizes"),
        (["--timeout", "0"], "--timeout must be more than 0 seconds"),
        (["--n", "many"], "'many' is not a valid integer"),
        (["--base-url", "ftp://example"], "base URL must start with http:// or https://"),
        (["--retries", "11"], "--retries takes 0 to 10, not 11"),
    ],
)
def test_bad_combinations_fail_before_any_request(
    iconiq: Runner, openai_server: OpenAIServer, args: list[str], words: str
) -> None:
    result = iconiq("icon", "-p", "x", *args, env=openai_server.env(KEY))
    assert result.returncode == 2, result.stderr
    assert words in _one_line(result.stderr)
    assert openai_server.requests == []


def test_ctrl_c_while_waiting_is_one_line_and_130(
    cli_env: dict[str, str], openai_server: OpenAIServer, tmp_path: Path
) -> None:
    openai_server.behaviour = "hang"
    proc = subprocess.Popen(
        [str(ICONIQ), "icon", "-p", "x"],
        env={**cli_env, **openai_server.env(KEY)},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not openai_server.image_requests:
            assert time.monotonic() < deadline, "the request never arrived"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert _one_line(stderr) == "iconiq: error: cancelled"
    assert stdout == ""
    assert not list(tmp_path.glob("*.png"))


def test_server_image_is_what_gets_written(
    iconiq: Runner, openai_server: OpenAIServer, tmp_path: Path
) -> None:
    """The bytes on disk decode to the server's image (a white square in the middle)."""
    result = iconiq("icon", "-p", "x", "-o", "out.png", env=openai_server.env(KEY))
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "out.png") as img:
        assert img.convert("RGB").getpixel((512, 512)) == (255, 255, 255)
    assert base64.b64encode((tmp_path / "out.png").read_bytes())  # a real file, not empty
