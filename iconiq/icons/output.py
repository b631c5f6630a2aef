"""Turning generated images into files: formats, icon sets, paths, no clobbering.

``plan_paths`` decides every file name before anything is generated (so an
existing file stops the run before it costs an API call); ``write_all`` encodes
and writes them, never replacing a file unless ``force`` is set.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from iconiq.errors import InvalidInput, OutputError
from iconiq.icons.models import FORMATS, ICNS_SIZES, ICO_DEFAULT_SIZES

if TYPE_CHECKING:
    from PIL.Image import Image

SUFFIXES = {"png": ".png", "webp": ".webp", "jpeg": ".jpg", "ico": ".ico", "icns": ".icns"}
_BY_SUFFIX = {".png": "png", ".webp": "webp", ".jpg": "jpeg", ".jpeg": "jpeg", ".ico": "ico",
              ".icns": "icns"}  # fmt: skip


def format_from_suffix(path: Path) -> str | None:
    return _BY_SUFFIX.get(path.suffix.lower())


def slug(prompt: str, limit: int = 40) -> str:
    """A file-name stem from the prompt: ``"A rocket, blue!"`` -> ``"a-rocket-blue"``."""
    text = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")
    return text[:limit].rstrip("-") or "icon"


@dataclass(frozen=True)
class Target:
    """One image variant and the file(s) it becomes."""

    variant: int
    # (path, pixel size or None for the image's own size); several for a png/webp/jpeg set.
    files: tuple[tuple[Path, int | None], ...]


def plan_paths(
    *,
    output: Path | None,
    prompt: str,
    output_is_dir: bool = False,
    fmt: str,
    n: int,
    sizes: tuple[int, ...] | None,
    force: bool,
) -> list[Target]:
    """Every file this run will write; raises if one exists (without ``force``)."""
    if fmt not in FORMATS:
        raise InvalidInput(f"--format takes {' | '.join(FORMATS)}, not {fmt!r}")
    suffix = SUFFIXES[fmt]
    output = (output or Path.cwd()).absolute()
    is_dir = output_is_dir or output.is_dir()
    if is_dir:
        directory, stem = output, slug(prompt)
    else:
        named = format_from_suffix(output)
        if named is not None and named != fmt:
            raise InvalidInput(f"--output {output.name} does not match --format {fmt}")
        # Keep the user's own suffix (x.jpeg stays x.jpeg); an unknown one is part of the name.
        directory, stem = output.parent, output.stem if named else output.name
        suffix = output.suffix if named else suffix
    per_file_sizes = sizes is not None and fmt in {"png", "webp", "jpeg"}
    targets: list[Target] = []
    for variant in range(n):
        base = stem if n == 1 else f"{stem}-{variant + 1}"
        files: tuple[tuple[Path, int | None], ...]
        if per_file_sizes:
            assert sizes is not None
            files = tuple((directory / f"{base}-{s}{suffix}", s) for s in sizes)
        else:
            files = ((directory / f"{base}{suffix}", None),)
        targets.append(Target(variant, files))
    check_writable(directory)
    if not force:
        for target in targets:
            for path, _ in target.files:
                if path.exists():
                    raise OutputError(f"{path} already exists (use --force to overwrite)")
    return targets


def square(img: Image) -> Image:
    """Centre-crop to a square (icons are square; some models make wide images)."""
    w, h = img.size
    if w == h:
        return img
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    return img.crop((left, top, left + side, top + side))


def _resized(img: Image, size: int) -> Image:
    from PIL import Image as PILImage

    if img.size == (size, size):
        return img
    return img.resize((size, size), PILImage.Resampling.LANCZOS)


def encode(img: Image, fmt: str, size: int | None, sizes: tuple[int, ...] | None) -> bytes:
    """The bytes of one file: a plain image, or a multi-size ico/icns."""
    buf = io.BytesIO()
    if fmt == "ico":
        base = square(img).convert("RGBA")
        wanted = sizes or ICO_DEFAULT_SIZES
        frames = [_resized(base, s) for s in wanted]
        frames[-1].save(
            buf, format="ICO", sizes=[(s, s) for s in wanted], append_images=frames[:-1]
        )
    elif fmt == "icns":
        base = square(img).convert("RGBA")
        frames = [_resized(base, s) for s in ICNS_SIZES]
        frames[-1].save(buf, format="ICNS", append_images=frames[:-1])
    else:
        out = square(img) if size is not None else img
        out = _resized(out, size) if size is not None else out
        if fmt == "jpeg":
            if out.mode != "RGB":
                out = _flatten(out)
            out.save(buf, format="JPEG", quality=92)
        elif fmt == "webp":
            out.save(buf, format="WEBP", lossless=True)
        else:
            out.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _flatten(img: Image) -> Image:
    """Alpha onto white, for formats without transparency."""
    from PIL import Image as PILImage

    rgba = img.convert("RGBA")
    background = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
    return PILImage.alpha_composite(background, rgba).convert("RGB")


def _make_parent(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputError(f"cannot create folder {path.parent}: {reason}") from None


def check_writable(directory: Path) -> None:
    """Fail early when ``directory`` cannot be created or written (before any API call)."""
    probe = directory
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise OutputError(f"cannot write into {directory}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write into {directory}: permission denied")


def write_file(path: Path, data: bytes, force: bool) -> None:
    """Write ``data`` to ``path`` whole or not at all (a temporary file, then a rename or
    a hard link); refuse to replace an existing file without ``force``."""
    _make_parent(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        if force:
            os.replace(tmp, path)
        else:
            _link_new(tmp, path, data)
    except FileExistsError:
        raise OutputError(f"{path} already exists (use --force to overwrite)") from None
    except IsADirectoryError:
        raise OutputError(f"cannot write {path}: it is a directory") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputError(f"cannot write {path}: {reason}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _link_new(tmp: Path, path: Path, data: bytes) -> None:
    """Give ``tmp``'s content the name ``path`` only if that name is free."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:  # no hard links here (e.g. FAT): exclusive create instead
        with path.open("xb") as f:
            f.write(data)


def write_all(
    targets: list[Target],
    images: list[Image],
    fmt: str,
    sizes: tuple[int, ...] | None,
    force: bool,
) -> list[Path]:
    """Encode each variant and write its files; the written paths, in order."""
    written: list[Path] = []
    for target, img in zip(targets, images, strict=True):
        for path, size in target.files:
            write_file(path, encode(img, fmt, size, sizes), force)
            written.append(path)
    return written
