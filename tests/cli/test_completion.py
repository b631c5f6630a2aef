"""Shell completion: the scripts typer writes for bash, zsh and fish name iconiq, and
the program answers completion requests (through a real bash, too) without heavy imports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import ICONIQ, Runner

MARKERS = {
    "bash": "complete -o default -F _iconiq_completion iconiq",
    "zsh": "#compdef iconiq",
    "fish": "complete --command iconiq",
}
BASH = shutil.which("bash")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")


def _bash(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    assert BASH is not None
    return subprocess.run(
        [BASH, "--norc", "--noprofile", "-c", script],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("shell", sorted(MARKERS))
def test_show_completion_prints_the_named_shells_script(iconiq: Runner, shell: str) -> None:
    shown = iconiq("--show-completion", shell)
    assert shown.returncode == 0, shown.stderr
    assert MARKERS[shell] in shown.stdout
    assert f"_ICONIQ_COMPLETE=complete_{shell}" in shown.stdout
    for other, marker in MARKERS.items():
        if other != shell:
            assert marker not in shown.stdout
    # the same script as click's documented way to ask for one: _PROG_COMPLETE=source_SHELL
    sourced = iconiq(env={"_ICONIQ_COMPLETE": f"source_{shell}"})
    assert sourced.returncode == 0 and sourced.stdout == shown.stdout


@needs_bash
def test_show_completion_without_a_name_detects_the_shell(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    result = _bash(f"'{ICONIQ}' --show-completion", cli_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert MARKERS["bash"] in result.stdout


def test_bad_shell_names_are_one_line_errors(iconiq: Runner) -> None:
    unknown = iconiq("--show-completion", "tcsh")
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr == (
        "iconiq: error: unknown shell 'tcsh'; known: bash, zsh, fish, powershell, pwsh\n"
    )
    named = iconiq("--install-completion", "zsh")
    assert named.returncode == 2 and named.stderr.count("\n") == 1
    assert "iconiq --show-completion zsh" in named.stderr


def _complete_bash(iconiq: Runner, line: str) -> list[str]:
    words = line.split(" ")
    result = iconiq(
        env={
            "_ICONIQ_COMPLETE": "complete_bash",
            "COMP_WORDS": line,
            "COMP_CWORD": str(len(words) - 1),
        }
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_completion_proposes_commands_options_and_subcommands(iconiq: Runner) -> None:
    assert {"icon", "config", "telemetry"} <= set(_complete_bash(iconiq, "iconiq "))
    assert _complete_bash(iconiq, "iconiq te") == ["telemetry"]
    assert {"status", "flush", "purge", "show"} <= set(_complete_bash(iconiq, "iconiq telemetry "))
    assert "--model" in _complete_bash(iconiq, "iconiq icon --mo")
    assert {"path", "get", "set"} <= set(_complete_bash(iconiq, "iconiq config "))


def test_zsh_and_fish_requests_answer_too(iconiq: Runner) -> None:
    zsh = iconiq(env={"_ICONIQ_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "iconiq con"})
    assert zsh.returncode == 0 and '"config"' in zsh.stdout
    fish = iconiq(env={"_ICONIQ_COMPLETE": "complete_fish", "_TYPER_COMPLETE_ARGS": "iconiq ic",
                       "_TYPER_COMPLETE_FISH_ACTION": "get-args"})  # fmt: skip
    assert fish.returncode == 0 and fish.stdout.split()[0] == "icon"


@needs_bash
def test_the_bash_script_completes_in_a_real_bash(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    script = (
        f"source <('{ICONIQ}' --show-completion bash)\n"
        f"COMP_WORDS=('{ICONIQ}' ''); COMP_CWORD=1\n"
        f"_iconiq_completion '{ICONIQ}'\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = _bash(script, cli_env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert {"icon", "config", "telemetry"} <= set(result.stdout.split())


@needs_bash
def test_install_completion_writes_into_the_users_bash_setup(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**cli_env, "HOME": str(tmp_path)}
    result = _bash(f"'{ICONIQ}' --install-completion", env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "bash completion installed in" in result.stdout
    installed = tmp_path / ".bash_completions" / "iconiq.sh"
    assert MARKERS["bash"] in installed.read_text()
    assert str(installed.relative_to(tmp_path)) in (tmp_path / ".bashrc").read_text()


_PROBE = """
import json, os, sys
from iconiq.cli.main import main
os.environ.update(json.loads(sys.argv[1]))
try:
    main([])
finally:
    sys.stderr.write(json.dumps([m for m in %r if m in sys.modules]) + "\\n")
""" % (("pydantic", "rich", "openai", "httpx", "PIL"),)


@pytest.mark.parametrize("line", ["iconiq ", "iconiq icon --mo", "iconiq config "])
def test_a_completion_request_imports_nothing_heavy(
    cli_env: dict[str, str], tmp_path: Path, line: str
) -> None:
    request = {"_ICONIQ_COMPLETE": "complete_bash", "COMP_WORDS": line,
               "COMP_CWORD": str(len(line.split(" ")) - 1)}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(request)],
        env=cli_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip(), result.stderr  # it did answer
    assert json.loads(result.stderr.strip().splitlines()[-1]) == []


def test_help_lists_the_completion_options(iconiq: Runner) -> None:
    out = iconiq("--help").stdout
    assert "--install-completion" in out and "--show-completion" in out


@pytest.mark.slow
def test_help_with_completion_stays_near_a_bare_import_typer(cli_env: dict[str, str]) -> None:
    """Budget 1.3x (benchmarks/startup.py, wall time). Here: CPU time of the child, which
    a loaded machine barely moves, best of 7 interleaved runs, bound 1.6x: loose, yet
    far below what pydantic's or rich's imports cost (>= 1.9x)."""
    import resource

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    argvs = {"help": [str(ICONIQ), "--help"], "typer": [sys.executable, "-c", "import typer"]}
    best = {name: float("inf") for name in argvs}
    for _ in range(7):
        for name, argv in argvs.items():
            start = cpu()
            subprocess.run(argv, env=cli_env, capture_output=True, timeout=60, check=True)
            best[name] = min(best[name], cpu() - start)
    assert best["help"] < 1.6 * best["typer"], best
