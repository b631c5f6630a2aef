"""The entry point fills the run that telemetry reads: command, flags, outcome."""

from __future__ import annotations

from pathlib import Path

import pytest

from iconiq import run as run_mod
from iconiq.cli.main import main


@pytest.fixture(autouse=True)
def _telemetry_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICONIQ_TELEMETRY_DISABLED", "1")


def test_success_records_flag_names_never_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["icon", "-p", "hidden words", "-m", "local", "--size", "256x256",
                 "-o", str(tmp_path / "x.png")])  # fmt: skip
    run = run_mod.current()
    assert code == 0 and run.success and run.exit_code == 0 and run.error_type is None
    assert run.command == "icon" and run.invoked
    assert sorted(run.flags) == ["--model", "--output", "--prompt", "--size"]
    assert run.facts["prompt_length"] == len("hidden words")
    assert isinstance(run.facts["execution_time"], int)
    assert "hidden" not in repr(run.flags) + repr(run.facts)
    assert capsys.readouterr().out.strip() == str(tmp_path / "x.png")


def test_failure_records_error_type_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["icon", "-p", "x", "-m", "dall-e-3", "--transparent"])
    run = run_mod.current()
    assert code == 2 and not run.success
    assert run.error_type == "invalid_input" and run.exit_code == 2
    err = capsys.readouterr().err
    assert err == (
        "iconiq: error: dall-e-3 cannot make a transparent background (use gpt-image-1, local)\n"
    )


def test_usage_error_is_invalid_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["icon", "--no-such-option"]) == 2
    assert run_mod.current().error_type == "invalid_input"
    assert not run_mod.current().invoked
    err = capsys.readouterr().err
    assert err.startswith("iconiq: error: No such option") and err.count("\n") == 1


def test_help_is_not_an_invocation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["icon", "--help"]) == 0
    assert not run_mod.current().invoked
    assert "--prompt" in capsys.readouterr().out


def test_no_arguments_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "icon" in out and "config" in out and "telemetry" in out
