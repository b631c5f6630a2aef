"""``iconiq icon --model local`` through the real console script: no key, no network."""

from __future__ import annotations

import json
import os
from pathlib import Path

from PIL import Image

from tests.cli.conftest import Runner


def test_writes_a_png_named_after_the_prompt(iconiq: Runner, tmp_path: Path) -> None:
    result = iconiq("icon", "--prompt", "A rocket, blue!", "--model", "local")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "a-rocket-blue.png"
    assert result.stdout.strip() == str(path)
    assert result.stderr == ""
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.size == (1024, 1024)


def test_same_prompt_and_options_give_the_same_bytes(iconiq: Runner, tmp_path: Path) -> None:
    args = ("icon", "-p", "budget tracker", "-m", "local", "--size", "256x256")
    assert iconiq(*args, "-o", "one.png").returncode == 0
    assert iconiq(*args, "-o", "two.png").returncode == 0
    assert iconiq(*args, "-o", "three.png", "--transparent").returncode == 0
    one, two = (tmp_path / "one.png").read_bytes(), (tmp_path / "two.png").read_bytes()
    assert one == two
    assert (tmp_path / "three.png").read_bytes() != one


def test_never_overwrites_without_force(iconiq: Runner, tmp_path: Path) -> None:
    target = tmp_path / "icon.png"
    target.write_bytes(b"precious")
    result = iconiq("icon", "-p", "cat", "-m", "local", "-o", str(target))
    assert result.returncode == 9
    assert (
        result.stderr.strip()
        == f"iconiq: error: {target} already exists (use --force to overwrite)"
    )
    assert target.read_bytes() == b"precious"
    forced = iconiq("icon", "-p", "cat", "-m", "local", "-o", str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    assert target.read_bytes().startswith(b"\x89PNG")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_json_output_and_variants_into_a_new_folder(iconiq: Runner, tmp_path: Path) -> None:
    result = iconiq(
        "icon", "-p", "weather app", "-m", "local", "-n", "3", "-o", "out/", "--json",
        "--size", "256x256",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["model"] == "local" and data["format"] == "png" and data["api_time_ms"] is None
    files = [Path(f) for f in data["files"]]
    assert [f.name for f in files] == [
        "weather-app-1.png",
        "weather-app-2.png",
        "weather-app-3.png",
    ]
    assert all(f.parent == tmp_path / "out" for f in files)
    assert len({f.read_bytes() for f in files}) == 3  # variants differ


def test_ico_holds_the_requested_sizes(iconiq: Runner, tmp_path: Path) -> None:
    result = iconiq("icon", "-p", "notes", "-m", "local", "-o", "app.ico", "--sizes", "16,32,48")
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "app.ico") as img:
        assert img.format == "ICO"
        assert sorted(img.info["sizes"]) == [(16, 16), (32, 32), (48, 48)]


def test_icns_and_a_webp_set(iconiq: Runner, tmp_path: Path) -> None:
    icns = iconiq("icon", "-p", "notes", "-m", "local", "-f", "icns", "--transparent")
    assert icns.returncode == 0, icns.stderr
    with Image.open(tmp_path / "notes.icns") as img:
        assert img.format == "ICNS"
        pixels = {w * scale for w, _, scale in img.info["sizes"]}
        assert {32, 64, 128, 256, 512, 1024} <= pixels
        assert img.size == (1024, 1024)
    webp = iconiq("icon", "-p", "notes", "-m", "local", "-f", "webp", "--sizes", "16,64")
    assert webp.returncode == 0, webp.stderr
    assert webp.stdout.split() == [str(tmp_path / "notes-16.webp"), str(tmp_path / "notes-64.webp")]
    with Image.open(tmp_path / "notes-64.webp") as img:
        assert img.format == "WEBP" and img.size == (64, 64)


def test_format_follows_the_output_suffix(iconiq: Runner, tmp_path: Path) -> None:
    result = iconiq("icon", "-p", "camera", "-m", "local", "-o", "cam.jpg")
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "cam.jpg") as img:
        assert img.format == "JPEG"
    clash = iconiq("icon", "-p", "camera", "-m", "local", "-o", "cam.png", "-f", "webp")
    assert clash.returncode == 2
    assert "does not match --format webp" in clash.stderr


def test_unwritable_output_is_one_line_and_exit_9(iconiq: Runner, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = iconiq("icon", "-p", "cat", "-m", "local", "-o", str(blocker / "sub" / "x.png"))
    assert result.returncode == 9
    assert len(result.stderr.splitlines()) == 1
    assert "is not a folder" in result.stderr
    if os.geteuid() != 0:  # root writes anywhere; the permission check needs a user
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        denied = iconiq("icon", "-p", "cat", "-m", "local", "-o", str(locked / "x.png"))
        assert denied.returncode == 9 and "permission denied" in denied.stderr


def test_model_setting_is_the_default(iconiq: Runner, tmp_path: Path) -> None:
    assert iconiq("config", "set", "icon.model", "local").returncode == 0
    result = iconiq("icon", "-p", "owl", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["model"] == "local"


def test_spinner_only_on_a_terminal(cli_env: dict[str, str], tmp_path: Path) -> None:
    import pty
    import subprocess

    from tests.cli.conftest import ICONIQ

    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [str(ICONIQ), "icon", "-p", "spinner", "-m", "local"],
            env=cli_env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=60,
        )
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(leader)
    assert result.returncode == 0
    assert result.stdout.decode().strip() == str(tmp_path / "spinner.png")  # no escapes
    assert "Drawing" in seen.decode(errors="replace")
