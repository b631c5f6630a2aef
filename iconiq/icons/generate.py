"""``generate``: one icon request from options to written files.

Order matters for the user: validate the combination, plan (and check) every
output path, resolve the key — all before the first request — then generate,
then write. Facts for telemetry (prompt length, never the prompt; format;
model; time spent on the API) are noted on the current run as they are known.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iconiq import run as run_mod
from iconiq.errors import ApiError, InvalidInput
from iconiq.icons import credentials, models, output, remote

if TYPE_CHECKING:
    from PIL.Image import Image


@dataclass
class IconRequest:
    """Everything ``iconiq icon`` was asked to do."""

    prompt: str
    model: str = models.DEFAULT_MODEL
    size: str | None = None
    quality: str | None = None
    style: str | None = None
    n: int = 1
    fmt: str | None = None
    sizes: tuple[int, ...] | None = None
    transparent: bool = False
    output: Path | None = None
    # True when --output was written as a folder (ending in /) even if it does not exist yet.
    output_is_dir: bool = False
    force: bool = False
    base_url: str | None = None
    timeout: float = remote.DEFAULT_TIMEOUT
    retries: int = remote.DEFAULT_RETRIES


@dataclass
class IconResult:
    model: str
    fmt: str
    files: list[Path]
    size: str
    api_ms: int | None = None
    revised_prompts: list[str | None] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "format": self.fmt,
            "size": self.size,
            "files": [str(p) for p in self.files],
            "api_time_ms": self.api_ms,
            "revised_prompts": self.revised_prompts,
        }


def resolve_format(fmt: str | None, out: Path | None) -> str:
    """``--format``, else the ``--output`` file's suffix, else png."""
    if fmt is not None:
        return fmt.lower()
    if out is not None and not out.is_dir():
        named = output.format_from_suffix(out)
        if named is not None:
            return named
    return "png"


def _open(data: bytes) -> Image:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        img = PILImage.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError):
        raise ApiError("the image API sent data that is not an image") from None
    return img


def generate(req: IconRequest) -> IconResult:
    """Validate, generate and write; the written files."""
    run = run_mod.current()
    if not req.timeout > 0:
        raise InvalidInput(f"--timeout must be more than 0 seconds, not {req.timeout:g}")
    if not 0 <= req.retries <= 10:
        raise InvalidInput(f"--retries takes 0 to 10, not {req.retries}")
    fmt = resolve_format(req.fmt, None if req.output_is_dir else req.output)
    # Only names from our own lists reach telemetry, never free text the user typed.
    run.note(
        prompt_length=len(req.prompt),
        model_used=req.model if req.model in models.MODELS else "unknown",
        output_format=fmt if fmt in models.FORMATS else "unknown",
    )
    spec = models.validate(
        model=req.model,
        prompt=req.prompt,
        size=req.size,
        quality=req.quality,
        style=req.style,
        n=req.n,
        fmt=fmt,
        sizes=req.sizes,
        transparent=req.transparent,
    )
    size = req.size or spec.default_size
    targets = output.plan_paths(
        output=req.output,
        output_is_dir=req.output_is_dir,
        prompt=req.prompt,
        fmt=fmt,
        n=req.n,
        sizes=req.sizes,
        force=req.force,
    )
    api_ms: int | None = None
    revised: list[str | None] = []
    if spec.remote:
        key = credentials.api_key()
        base_url = credentials.base_url(req.base_url)
        call = remote.Request(
            model=spec,
            prompt=req.prompt,
            n=req.n,
            size=req.size,
            quality=req.quality,
            style=req.style,
            transparent=req.transparent,
            fmt=fmt,
        )
        api = remote.client(
            api_key=key, base_url=base_url, timeout=req.timeout, retries=req.retries
        )
        started = time.perf_counter()
        try:
            result = remote.generate(api, call, base_url=base_url, timeout=req.timeout)
        finally:
            api_ms = int((time.perf_counter() - started) * 1000)
            run.note(api_time=api_ms)
        images = [_open(data) for data in result.images[: req.n]]
        revised = result.revised_prompts[: req.n]
        if len(images) < req.n:
            raise ApiError(f"the image API sent {len(images)} image(s), {req.n} were asked for")
    else:
        from iconiq.icons import local

        side = int(size.split("x")[0])
        images = [local.render(req.prompt, side, v, req.transparent) for v in range(req.n)]
    files = output.write_all(targets, images, fmt, req.sizes, req.force)
    return IconResult(spec.name, fmt, files, size, api_ms, revised)
