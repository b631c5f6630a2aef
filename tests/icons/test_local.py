"""The offline renderer: deterministic, distinct per prompt and variant, a real icon."""

from __future__ import annotations

import io

from PIL import Image

from iconiq.icons import local
from iconiq.icons.output import encode


def _png(img: Image.Image) -> bytes:
    return encode(img, "png", None, None)


def test_same_inputs_same_bytes() -> None:
    a = _png(local.render("a red fox", 256))
    b = _png(local.render("a red fox", 256))
    assert a == b


def test_prompt_variant_and_background_change_the_picture() -> None:
    base = local.render("a red fox", 256).tobytes()
    assert local.render("a red box", 256).tobytes() != base
    assert local.render("a red fox", 256, variant=1).tobytes() != base
    assert local.render("a red fox", 256, transparent=True).convert("RGB").tobytes() != base


def test_opaque_is_full_bleed_and_transparent_has_round_corners() -> None:
    opaque = local.render("notes", 256)
    assert opaque.mode == "RGB" and opaque.size == (256, 256)
    clear = local.render("notes", 256, transparent=True)
    assert clear.mode == "RGBA"
    assert clear.getpixel((0, 0))[3] == 0  # corner outside the rounded square
    assert clear.getpixel((128, 128))[3] == 255  # middle is solid


def test_initials_skip_filler_words() -> None:
    assert local.initials("a rocket for my budget app") == "RB"
    assert local.initials("The Weather") == "W"
    assert local.initials("app icon") == "AI"  # only filler: use it anyway
    assert local.initials("!!!") == "?"
    assert local.initials("3d printer") == "3P"


def test_it_is_not_a_flat_square() -> None:
    img = local.render("chess club", 256)
    colours = img.getcolors(maxcolors=256 * 256)
    assert colours is None or len(colours) > 50  # gradient, motif and glyph
    # the middle (glyph) is lighter than the gradient around it
    assert img.crop((96, 96, 160, 160)).convert("L").getextrema()[1] > 240


def test_sizes() -> None:
    for side in (256, 512, 1024):
        data = _png(local.render("x", side))
        with Image.open(io.BytesIO(data)) as img:
            assert img.size == (side, side)
