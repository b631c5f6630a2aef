"""``generate`` end to end in-process: the facts it notes for telemetry, never the prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from iconiq import run as run_mod
from iconiq.errors import RateLimited
from iconiq.icons.generate import IconRequest, generate
from tests.support.openai_server import OpenAIServer

PROMPT = "a secret project codename falcon"


def _no_prompt_in(facts: dict[str, object]) -> None:
    assert all(PROMPT not in str(v) for v in facts.values())


def test_api_run_notes_length_format_model_and_api_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OpenAIServer() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-123456")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        server.delay = 0.3
        run = run_mod.start()
        result = generate(IconRequest(prompt=PROMPT, output=tmp_path / "i.webp", retries=0))
    assert result.files == [tmp_path / "i.webp"]
    assert run.facts["prompt_length"] == len(PROMPT)
    assert run.facts["output_format"] == "webp"
    assert run.facts["model_used"] == "dall-e-3"
    assert 300 <= run.facts["api_time"] < 5000
    assert result.api_ms == run.facts["api_time"]
    _no_prompt_in(run.facts)


def test_failed_api_run_still_notes_api_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OpenAIServer("429") as server:
        server.retry_after = 7
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key-123456")
        run = run_mod.start()
        with pytest.raises(RateLimited) as caught:
            generate(
                IconRequest(prompt=PROMPT, output=tmp_path, retries=0, base_url=server.base_url)
            )
    assert caught.value.retry_after == 7
    assert isinstance(run.facts["api_time"], int)
    assert run.facts["model_used"] == "dall-e-3"
    assert not list(tmp_path.glob("*.png"))


def test_local_run_has_no_api_time(tmp_path: Path) -> None:
    run = run_mod.start()
    result = generate(IconRequest(prompt=PROMPT, model="local", size="256x256", output=tmp_path))
    assert result.files == [tmp_path / "a-secret-project-codename-falcon.png"]
    assert "api_time" not in run.facts
    assert run.facts["model_used"] == "local"
    assert run.facts["prompt_length"] == len(PROMPT)
    _no_prompt_in(run.facts)


def test_free_text_in_model_or_format_never_becomes_a_fact(tmp_path: Path) -> None:
    from iconiq.errors import InvalidInput

    run = run_mod.start()
    with pytest.raises(InvalidInput):
        generate(IconRequest(prompt="x", model="my private model", output=tmp_path))
    assert run.facts["model_used"] == "unknown"
    run = run_mod.start()
    with pytest.raises(InvalidInput):
        generate(IconRequest(prompt="x", model="local", fmt="secret-fmt", output=tmp_path))
    assert run.facts["output_format"] == "unknown" and run.facts["model_used"] == "local"
