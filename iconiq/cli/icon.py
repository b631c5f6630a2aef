"""``iconiq icon``: generate an app icon (thin: options in, ``icons.generate`` out).

Nothing heavy is imported at module level: ``iconiq --help`` loads this file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from iconiq.icons.defaults import DEFAULT_MODEL, DEFAULT_RETRIES, DEFAULT_TIMEOUT


def icon(
    prompt: str = typer.Option(..., "--prompt", "-p", metavar="TEXT", help="What the icon shows."),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        metavar="NAME",
        help=f"dall-e-3 (default, or the icon.model setting), gpt-image-1, dall-e-2, "
        f"or local (offline, no key). [default: {DEFAULT_MODEL}]",
        show_default=False,
    ),
    size: str | None = typer.Option(
        None,
        "--size",
        metavar="WxH",
        help="Image size the model makes, e.g. 1024x1024 (per model).",
    ),
    quality: str | None = typer.Option(
        None,
        "--quality",
        metavar="LEVEL",
        help="dall-e-3: standard|hd; gpt-image-1: low|medium|high|auto.",
    ),
    style: str | None = typer.Option(
        None, "--style", metavar="STYLE", help="dall-e-3 only: vivid|natural."
    ),
    n: int = typer.Option(
        1, "--n", "-n", metavar="N", help="How many variants (dall-e-3 makes 1)."
    ),
    output: str | None = typer.Option(
        None,
        "--output",
        "-o",
        metavar="PATH",
        help="File, or folder (existing, or ending in /) to write into. [default: .]",
        show_default=False,
    ),
    fmt: str | None = typer.Option(
        None,
        "--format",
        "-f",
        metavar="FORMAT",
        help="png|webp|jpeg|ico|icns. [default: from --output's suffix, else png]",
        show_default=False,
    ),
    sizes: str | None = typer.Option(
        None,
        "--sizes",
        metavar="LIST",
        help="Icon set sizes, e.g. 16,32,64,128,256: inside one .ico, or one file per size.",
    ),
    transparent: bool = typer.Option(
        False, "--transparent", help="Transparent background (gpt-image-1, local)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
    base_url: str | None = typer.Option(
        None,
        "--base-url",
        metavar="URL",
        help="OpenAI-compatible API base URL (else OPENAI_BASE_URL, else openai.base_url).",
    ),
    timeout: float = typer.Option(
        DEFAULT_TIMEOUT,
        "--timeout",
        metavar="SECONDS",
        help="Seconds to wait for the image API per attempt.",
    ),
    retries: int = typer.Option(
        DEFAULT_RETRIES, "--retries", metavar="N", help="Retries on rate limits, 5xx and timeouts."
    ),
) -> None:
    """Generate an app icon from a prompt.

    Prints the written file paths (or, with --json, one JSON object). Models:
    dall-e-3 (default), gpt-image-1, dall-e-2 need OPENAI_API_KEY (or the
    openai.api_key setting); local draws an offline placeholder, no key needed.
    """
    from iconiq import run, settings
    from iconiq.icons import models
    from iconiq.icons.generate import IconRequest, generate

    run.current().note(prompt_length=len(prompt))  # also when an option below is bad
    chosen = model or settings.get("icon.model") or DEFAULT_MODEL
    request = IconRequest(
        prompt=prompt,
        model=str(chosen),
        size=size,
        quality=quality,
        style=style,
        n=n,
        fmt=fmt,
        sizes=models.parse_sizes(sizes) if sizes is not None else None,
        transparent=transparent,
        output=Path(output).expanduser() if output else None,
        output_is_dir=(output or "").endswith(("/", os.sep)),
        force=force,
        base_url=base_url,
        timeout=timeout,
        retries=retries,
    )
    if sys.stderr.isatty():
        from rich.console import Console

        label = "Drawing" if request.model == "local" else f"Waiting for {request.model}"
        with Console(stderr=True).status(f"{label}…"):
            result = generate(request)
    else:
        result = generate(request)
    if as_json:
        import json

        typer.echo(json.dumps(result.as_json()))
    else:
        for path in result.files:
            typer.echo(str(path))
