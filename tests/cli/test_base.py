"""The pydantic-free converter behaves like typer's for plain types, and stands
aside for parameters that ask typer for more (ranges, path checks)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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


def _annotated_app(seen: dict[str, object]) -> App:
    app = App()

    @app.command("go")
    def go(
        size: Annotated[int | None, typer.Option("--size")] = None,
        workers: Annotated[int, typer.Option(min=1, max=4)] = 1,
        name: Annotated[str, typer.Argument()] = "x",
    ) -> None:
        seen.update(size=size, workers=workers, name=name)

    @app.command("other")
    def other() -> None:
        """A second command, so ``go`` stays a subcommand."""

    return app


def test_annotated_and_optional_parameters() -> None:
    seen: dict[str, object] = {}
    command = get_command(_annotated_app(seen))
    command.main(args=["go", "n", "--size", "7", "--workers", "3"], prog_name="t",
                 standalone_mode=False)  # fmt: skip
    assert seen == {"size": 7, "workers": 3, "name": "n"}
    with pytest.raises(typer.BadParameter, match="'big' is not a valid integer"):
        command.main(args=["go", "--size", "big"], prog_name="t", standalone_mode=False)
    with pytest.raises(typer.BadParameter):  # the range stays typer's to check
        command.main(args=["go", "--workers", "9"], prog_name="t", standalone_mode=False)
