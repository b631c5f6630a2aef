"""The offline ``local`` model: a deterministic placeholder icon drawn with Pillow.

Same prompt, size, variant and background give the same pixels (and, through
``output``, the same bytes): everything is derived from a SHA-256 of those
inputs. The icon is a rounded square filled with a two-colour gradient from a
hash-chosen palette, a soft motif (ring, disc, diamond or stripes) and the
prompt's initials in the middle. It is drawn at twice the size and scaled down,
so edges are smooth. No key, no network, no openai import.
"""

from __future__ import annotations

import colorsys
import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

_STOPWORDS = {
    "a", "an", "the", "of", "for", "and", "or", "with", "in", "on", "to", "at", "by",
    "my", "our", "your", "app", "icon", "logo", "minimal", "simple", "flat", "style",
}  # fmt: skip
MOTIFS = ("ring", "disc", "diamond", "stripes")


def initials(prompt: str) -> str:
    """One or two capital letters (or digits) that stand for the prompt."""
    words = ["".join(ch for ch in w if ch.isalnum()) for w in prompt.split()]
    words = [w for w in words if w]
    meaningful = [w for w in words if w.lower() not in _STOPWORDS] or words
    letters = "".join(w[0] for w in meaningful[:2]).upper()
    return letters or "?"


def _seed(prompt: str, size: int, variant: int, transparent: bool) -> bytes:
    key = f"iconiq-local-v1\0{prompt}\0{size}\0{variant}\0{int(transparent)}"
    return hashlib.sha256(key.encode()).digest()


def _rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return round(r * 255), round(g * 255), round(b * 255)


def palette(seed: bytes) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """Two harmonious colours (a hue and a neighbour) for the gradient."""
    hue = seed[0] / 256
    shift = (24 + seed[1] % 40) / 360
    light = _rgb(hue, 0.55 + seed[2] % 20 / 100, 0.92)
    dark = _rgb(hue + shift, 0.70 + seed[3] % 20 / 100, 0.55 + seed[4] % 15 / 100)
    return light, dark


def render(prompt: str, size: int = 1024, variant: int = 0, transparent: bool = False) -> Image:
    """Draw the placeholder icon as an RGBA image of ``size`` x ``size``."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    seed = _seed(prompt, size, variant, transparent)
    light, dark = palette(seed)
    big = size * 2
    margin = 0 if not transparent else big // 16
    radius = (big - 2 * margin) * 22 // 100

    # Gradient: a linear ramp rotated by a hash-chosen angle, light to dark.
    # (rotated at 512 px and cropped to its fully covered middle, then scaled up).
    ramp = Image.linear_gradient("L").resize((512, 512))
    ramp = ramp.rotate(45 * (seed[5] % 8), resample=Image.Resampling.BILINEAR)
    ramp = ramp.crop((128, 128, 384, 384)).resize((big, big), Image.Resampling.BILINEAR)
    fill = Image.composite(
        Image.new("RGB", (big, big), dark), Image.new("RGB", (big, big), light), ramp
    )

    # Motif in translucent white.
    layer = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    motif = MOTIFS[seed[6] % len(MOTIFS)]
    c, r = big // 2, big * (28 + seed[7] % 10) // 100
    white = (255, 255, 255, 46)
    if motif == "ring":
        draw.ellipse((c - r, c - r, c + r, c + r), outline=white, width=big // 28)
    elif motif == "disc":
        ox = (seed[8] % 3 - 1) * big // 6
        draw.ellipse((c - r + ox, c - r - big // 8, c + r + ox, c + r - big // 8), fill=white)
    elif motif == "diamond":
        draw.polygon([(c, c - r), (c + r, c), (c, c + r), (c - r, c)], fill=white)
    else:
        step = big // 7
        for x in range(-big, big * 2, step * 2):
            draw.polygon([(x, 0), (x + step, 0), (x + step - big, big), (x - big, big)], fill=white)
    art = Image.alpha_composite(fill.convert("RGBA"), layer)

    # Initials with a soft shadow.
    text = initials(prompt)
    font = ImageFont.load_default(size=big * (42 if len(text) == 1 else 34) // 100)
    text_layer = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    tdraw = ImageDraw.Draw(text_layer)
    offset = big // 90
    tdraw.text((c + offset, c + offset * 2), text, font=font, anchor="mm", fill=(0, 0, 0, 90))
    text_layer = text_layer.filter(ImageFilter.GaussianBlur(big // 120))
    ImageDraw.Draw(text_layer).text((c, c), text, font=font, anchor="mm", fill=(255, 255, 255, 255))
    art = Image.alpha_composite(art, text_layer)

    # Rounded-square mask: transparent corners when asked, else a full-bleed square.
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        (margin, margin, big - margin - 1, big - margin - 1), radius=radius, fill=255
    )
    if transparent:
        out = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    else:
        out = Image.new("RGBA", (big, big), dark + (255,))
        mask = Image.new("L", (big, big), 255)
    out.paste(art, (0, 0), mask)
    small = out.reduce(2)
    return small if transparent else small.convert("RGB")
