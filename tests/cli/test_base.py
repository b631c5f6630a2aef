"""The pydantic-free converter behaves like typer's for plain types, and stands
aside for parameters that ask typer for more (ranges, path checks)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.main import get_command

from iconiq.cli.base import App

_WHERE = typer.Option(Path("."), "--where")
_EXISTING = typer.Option(None, "--existing", exists=True)


def _app(seen: dict[str, object]) -> App:
    app = App()

    @app.command("go")
    def go(
        text: str = typer.Option("d", "--text"),
        count: int = typer.Option(1, "--count"),
        ratio: float = typer.Option(1.0, "--ratio"),
        flag: bool = typer.Option(False, "--flag"),
        where: Path = _WHERE,
        ranged: int = typer.Option(5, "--ranged", min=1, max=9),
        existing: Path | None = _EXISTING,
    ) -> None:
        seen.update(locals())

    @app.command("other")
    def other() -> None:
        """A second command, so ``go`` stays a subcommand."""

    return app


def _run(args: list[str]) -> dict[str, object]:
    seen: dict[str, object] = {}
    command = get_command(_app(seen))
    command.main(args=args, prog_name="t", standalone_mode=False)
    return seen


def test_plain_values_convert() -> None:
    seen = _run(["go", "--text", "hi", "--count", "3", "--ratio", "0.5", "--flag",
                 "--where", "a/b"])  # fmt: skip
    assert seen["text"] == "hi" and seen["count"] == 3 and seen["ratio"] == 0.5
    assert seen["flag"] is True and seen["where"] == Path("a/b")
    defaults = _run(["go"])
    assert defaults["count"] == 1 and defaults["existing"] is None


def test_bad_numbers_are_usage_errors() -> None:
    with pytest.raises(typer.BadParameter, match="'x' is not a valid integer"):
        _run(["go", "--count", "x"])
    with pytest.raises(typer.BadParameter, match="'y' is not a valid number"):
        _run(["go", "--ratio", "y"])


def test_ranges_and_path_checks_still_apply(tmp_path: Path) -> None:
    with pytest.raises(typer.BadParameter):
        _run(["go", "--ranged", "10"])
    with pytest.raises(typer.BadParameter):
        _run(["go", "--existing", str(tmp_path / "missing")])
    assert _run(["go", "--existing", str(tmp_path)])["existing"] == tmp_path
