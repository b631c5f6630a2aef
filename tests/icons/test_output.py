"""Output planning and encoding: names, sets, no clobbering, ico/icns contents."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from iconiq.errors import InvalidInput, OutputError
from iconiq.icons import output


def _wide() -> Image.Image:
    img = Image.new("RGB", (300, 200), "red")
    img.paste(Image.new("RGB", (200, 200), "blue"), (50, 0))
    return img


def test_slug() -> None:
    assert output.slug("A rocket, blue!") == "a-rocket-blue"
    assert output.slug("???") == "icon"
    assert len(output.slug("x" * 100)) == 40


def test_plan_into_folder_with_variants_and_sizes(tmp_path: Path) -> None:
    targets = output.plan_paths(
        output=tmp_path, prompt="Cat", fmt="png", n=2, sizes=(16, 32), force=False
    )
    names = [[p.name for p, _ in t.files] for t in targets]
    assert names == [["cat-1-16.png", "cat-1-32.png"], ["cat-2-16.png", "cat-2-32.png"]]


def test_plan_file_stem_and_suffix_checks(tmp_path: Path) -> None:
    (target,) = output.plan_paths(
        output=tmp_path / "app.ico", prompt="x", fmt="ico", n=1, sizes=None, force=False
    )
    assert target.files == ((tmp_path / "app.ico", None),)
    with pytest.raises(InvalidInput, match="does not match --format png"):
        output.plan_paths(
            output=tmp_path / "app.ico", prompt="x", fmt="png", n=1, sizes=None, force=False
        )


def test_existing_file_stops_the_plan_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "x-2.png").write_bytes(b"keep")
    with pytest.raises(OutputError, match="already exists"):
        output.plan_paths(output=tmp_path / "x.png", prompt="p", fmt="png", n=2, sizes=None,
                          force=False)  # fmt: skip
    output.plan_paths(output=tmp_path / "x.png", prompt="p", fmt="png", n=2, sizes=None, force=True)


def test_write_file_refuses_to_clobber(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.png"
    output.write_file(path, b"one", force=False)
    with pytest.raises(OutputError, match="already exists"):
        output.write_file(path, b"two", force=False)
    output.write_file(path, b"three", force=True)
    assert path.read_bytes() == b"three"
    assert sorted(p.name for p in path.parent.iterdir()) == ["b.png"]


def test_ico_frames_are_square_crops() -> None:
    data = output.encode(_wide(), "ico", None, (16, 32))
    with Image.open(io.BytesIO(data)) as ico:
        assert sorted(ico.info["sizes"]) == [(16, 16), (32, 32)]
        ico.size = (32, 32)
        frame = ico.convert("RGB")
        assert frame.getpixel((0, 0)) == (0, 0, 255)  # the red sides were cropped away


def test_default_ico_sizes() -> None:
    data = output.encode(Image.new("RGB", (1024, 1024), "green"), "ico", None, None)
    with Image.open(io.BytesIO(data)) as ico:
        assert sorted(ico.info["sizes"]) == [(s, s) for s in (16, 24, 32, 48, 64, 128, 256)]


def test_jpeg_flattens_alpha_on_white() -> None:
    img = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    data = output.encode(img, "jpeg", None, None)
    with Image.open(io.BytesIO(data)) as jpg:
        assert jpg.format == "JPEG"
        r, g, b = jpg.convert("RGB").getpixel((32, 32))
        assert min(r, g, b) > 245


def test_wide_image_kept_as_is_without_sizes() -> None:
    data = output.encode(_wide(), "png", None, None)
    with Image.open(io.BytesIO(data)) as png:
        assert png.size == (300, 200)


def test_users_file_name_is_kept(tmp_path: Path) -> None:
    def names(out: str, fmt: str) -> list[str]:
        targets = output.plan_paths(
            output=tmp_path / out, prompt="p", fmt=fmt, n=1, sizes=None, force=False
        )
        return [p.name for t in targets for p, _ in t.files]

    assert names("x.jpeg", "jpeg") == ["x.jpeg"]
    assert names("x.JPG", "jpeg") == ["x.JPG"]
    assert names("icon.v2", "png") == ["icon.v2.png"]
    assert names("plain", "ico") == ["plain.ico"]
