"""The capability table and the one validation function."""

from __future__ import annotations

from typing import Any

import pytest

from iconiq.errors import InvalidInput
from iconiq.icons import models


def _check(**overrides: Any) -> models.ModelSpec:
    kwargs: dict[str, Any] = dict(
        model="dall-e-3", prompt="x", size=None, quality=None, style=None, n=1, fmt="png",
        sizes=None, transparent=False,
    )  # fmt: skip
    kwargs.update(overrides)
    return models.validate(**kwargs)


def test_defaults_are_valid_for_every_model() -> None:
    for name, spec in models.MODELS.items():
        assert _check(model=name) is spec
        assert spec.default_size in spec.sizes


def test_each_size_quality_style_the_table_lists_is_accepted() -> None:
    for name, spec in models.MODELS.items():
        for size in spec.sizes:
            _check(model=name, size=size)
        for quality in spec.qualities:
            _check(model=name, quality=quality)
        for style in spec.styles:
            _check(model=name, style=style)
        _check(model=name, n=spec.max_n)
        with pytest.raises(InvalidInput):
            _check(model=name, n=spec.max_n + 1)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"prompt": "  "}, "--prompt cannot be empty"),
        ({"model": "dall-e-2", "prompt": "x" * 1001}, "at most 1000 characters, got 1001"),
        ({"n": 0}, "--n must be at least 1"),
        ({"model": "local", "quality": "hd"}, "local does not take --quality"),
        ({"model": "dall-e-2", "transparent": True}, "dall-e-2 cannot make a transparent"),
    ],
)
def test_rejections(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        _check(**overrides)


def test_parse_sizes() -> None:
    assert models.parse_sizes("32, 16,32,256") == (16, 32, 256)
    for bad in ("", "0", "4", "2048", "16,abc", "-16"):
        with pytest.raises(InvalidInput):
            models.parse_sizes(bad)
