"""``iconiq config`` through the console script: one TOML file, secrets masked, 0600."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

from tests.cli.conftest import Runner

KEY = "sk-proj-abcdefghijklmnopqrstuvwxyz0123"


def test_path_is_in_iconiq_home(iconiq: Runner, iconiq_home: Path) -> None:
    result = iconiq("config", "path")
    assert result.returncode == 0
    assert result.stdout.strip() == str(iconiq_home / "config.toml")


def test_set_get_list_unset(iconiq: Runner, iconiq_home: Path) -> None:
    assert (
        iconiq("config", "set", "icon.model", "gpt-image-1").stdout == "icon.model = gpt-image-1\n"
    )
    assert iconiq("config", "get", "icon.model").stdout == "gpt-image-1\n"
    listed = iconiq("config", "list")
    assert listed.stdout == "icon.model = gpt-image-1\n"
    every = iconiq("config", "list", "--all").stdout
    assert "openai.base_url (not set)" in every and "icon.model = gpt-image-1" in every
    removed = iconiq("config", "unset", "icon.model")
    assert removed.returncode == 0 and removed.stdout == "icon.model removed\n"
    again = iconiq("config", "unset", "icon.model")
    assert again.returncode == 0 and again.stdout == "icon.model was not set\n"
    missing = iconiq("config", "get", "icon.model")
    assert missing.returncode == 2
    assert missing.stderr == "iconiq: error: icon.model is not set\n"


def test_api_key_is_stored_0600_and_always_masked(iconiq: Runner, iconiq_home: Path) -> None:
    result = iconiq("config", "set", "openai.api_key", KEY)
    assert result.returncode == 0
    path = iconiq_home / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tomllib.loads(path.read_text())["openai"]["api_key"] == KEY
    outputs = [
        result.stdout,
        iconiq("config", "get", "openai.api_key").stdout,
        iconiq("config", "list").stdout,
        iconiq("config", "list", "--json").stdout,
    ]
    for out in outputs:
        assert KEY not in out and KEY[3:-4] not in out
        assert "0123" in out  # the masked tail is shown
    assert json.loads(outputs[3]) == {"openai.api_key": "sk-…0123"}


def test_secret_can_be_piped_in(iconiq: Runner, iconiq_home: Path) -> None:
    result = iconiq("config", "set", "openai.api_key", input=KEY + "\n")
    assert result.returncode == 0, result.stderr
    assert KEY not in result.stdout
    assert tomllib.loads((iconiq_home / "config.toml").read_text())["openai"]["api_key"] == KEY


def test_bad_input_is_one_line_exit_2(iconiq: Runner) -> None:
    cases = [
        (("config", "set", "colour", "blue"), "unknown setting 'colour'"),
        (("config", "get", "colour"), "unknown setting 'colour'"),
        (("config", "set", "telemetry.enabled", "maybe"), "takes true or false, not 'maybe'"),
        (("config", "set", "icon.model"), "give a value: iconiq config set icon.model VALUE"),
        (("config", "set", "openai.base_url", " "), "cannot be empty"),
        (("config", "frobnicate"), "No such command 'frobnicate'"),
    ]
    for args, words in cases:
        result = iconiq(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and words in result.stderr, result.stderr


def test_broken_settings_file_is_one_line(iconiq: Runner, iconiq_home: Path) -> None:
    (iconiq_home / "config.toml").write_text("this is = = not toml")
    result = iconiq("config", "list")
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and "is not valid TOML" in result.stderr


def test_bare_config_shows_help(iconiq: Runner) -> None:
    result = iconiq("config")
    assert result.returncode == 0
    for word in ("--telemetry", "--show-telemetry", "get", "set", "list", "unset", "path"):
        assert word in result.stdout


def test_list_says_when_the_environment_wins(iconiq: Runner) -> None:
    assert iconiq("config", "set", "openai.api_key", KEY).returncode == 0
    plain = iconiq("config", "list").stdout
    assert plain == "openai.api_key = sk-…0123\n"
    shadowed = iconiq("config", "list", env={"OPENAI_API_KEY": "sk-other-key-999999"}).stdout
    assert shadowed == "openai.api_key = sk-…0123  (OPENAI_API_KEY is set and wins)\n"
    assert "999999" not in shadowed
