"""What each image model accepts, and the check of a request against it.

Every combination is validated here, before any request is sent, so that a
bad combination costs the user one clear line and no API call.
"""

from __future__ import annotations

from dataclasses import dataclass

from iconiq.errors import InvalidInput
from iconiq.icons.defaults import DEFAULT_MODEL

__all__ = ["DEFAULT_MODEL", "MODELS", "ModelSpec", "parse_sizes", "spec", "validate"]

FORMATS = ("png", "webp", "jpeg", "ico", "icns")
# Apple's icns set as Pillow writes it: every file holds all of these.
ICNS_SIZES = (32, 64, 128, 256, 512, 1024)
ICO_DEFAULT_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICO_MAX = 256
SET_MIN, SET_MAX = 8, 1024


@dataclass(frozen=True)
class ModelSpec:
    """The options one model takes (empty tuple: the option does not apply)."""

    name: str
    sizes: tuple[str, ...]
    default_size: str
    qualities: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    max_n: int = 1
    transparent: bool = False
    max_prompt: int = 4000
    # gpt-image-1 always answers in base64 and rejects ``response_format``.
    sends_response_format: bool = True
    remote: bool = True


MODELS: dict[str, ModelSpec] = {
    m.name: m
    for m in (
        ModelSpec(
            "dall-e-3",
            sizes=("1024x1024", "1792x1024", "1024x1792"),
            default_size="1024x1024",
            qualities=("standard", "hd"),
            styles=("vivid", "natural"),
            max_n=1,
            max_prompt=4000,
        ),
        ModelSpec(
            "gpt-image-1",
            sizes=("1024x1024", "1536x1024", "1024x1536", "auto"),
            default_size="1024x1024",
            qualities=("low", "medium", "high", "auto"),
            max_n=10,
            transparent=True,
            max_prompt=32000,
            sends_response_format=False,
        ),
        ModelSpec(
            "dall-e-2",
            sizes=("256x256", "512x512", "1024x1024"),
            default_size="1024x1024",
            max_n=10,
            max_prompt=1000,
        ),
        ModelSpec(
            "local",
            sizes=("256x256", "512x512", "1024x1024"),
            default_size="1024x1024",
            max_n=10,
            transparent=True,
            max_prompt=32000,
            remote=False,
        ),
    )
}


def spec(model: str) -> ModelSpec:
    try:
        return MODELS[model]
    except KeyError:
        raise InvalidInput(
            f"unknown model {model!r}; choose one of {', '.join(MODELS)}"
        ) from None


def _one_of(what: str, value: str, allowed: tuple[str, ...], model: str) -> None:
    if not allowed:
        raise InvalidInput(f"{model} does not take {what}")
    if value not in allowed:
        raise InvalidInput(f"{model} takes {what} {' | '.join(allowed)}, not {value!r}")


def parse_sizes(raw: str) -> tuple[int, ...]:
    """``"16,32,48"`` -> (16, 32, 48), sorted and without repeats."""
    out: set[int] = set()
    for part in raw.replace(" ", "").split(","):
        if not part:
            continue
        if not part.isdigit():
            raise InvalidInput(f"--sizes takes whole pixel sizes like 16,32,256, not {part!r}")
        value = int(part)
        if not SET_MIN <= value <= SET_MAX:
            raise InvalidInput(f"--sizes values must be between {SET_MIN} and {SET_MAX}: {value}")
        out.add(value)
    if not out:
        raise InvalidInput("--sizes needs at least one size, e.g. 16,32,256")
    return tuple(sorted(out))


def validate(
    *,
    model: str,
    prompt: str,
    size: str | None,
    quality: str | None,
    style: str | None,
    n: int,
    fmt: str,
    sizes: tuple[int, ...] | None,
    transparent: bool,
) -> ModelSpec:
    """Raise ``InvalidInput`` for anything the model or the format cannot do."""
    m = spec(model)
    if not prompt.strip():
        raise InvalidInput("--prompt cannot be empty")
    if len(prompt) > m.max_prompt:
        raise InvalidInput(
            f"{model} takes prompts of at most {m.max_prompt} characters, got {len(prompt)}"
        )
    if size is not None:
        _one_of("--size", size, m.sizes, model)
    if quality is not None:
        _one_of("--quality", quality, m.qualities, model)
    if style is not None:
        _one_of("--style", style, m.styles, model)
    if n < 1:
        raise InvalidInput("--n must be at least 1")
    if n > m.max_n:
        raise InvalidInput(f"{model} makes at most {m.max_n} image(s) per request, not {n}")
    if fmt not in FORMATS:
        raise InvalidInput(f"--format takes {' | '.join(FORMATS)}, not {fmt!r}")
    if transparent:
        if not m.transparent:
            capable = ", ".join(k for k, v in MODELS.items() if v.transparent)
            raise InvalidInput(f"{model} cannot make a transparent background (use {capable})")
        if fmt == "jpeg":
            raise InvalidInput("jpeg has no transparency; use --format png, webp, ico or icns")
    if sizes is not None:
        if fmt == "icns":
            listed = ", ".join(map(str, ICNS_SIZES))
            raise InvalidInput(f"--sizes does not apply to icns: it always holds {listed}")
        if fmt == "ico" and max(sizes) > ICO_MAX:
            raise InvalidInput(f"ico holds sizes up to {ICO_MAX}, not {max(sizes)}")
    return m
