"""A picture of the question space: first operand down, second across, wrong answers red.

At up to 3 digits every question is one pixel (a block of pixels for 1 and 2 digits, so
the picture is not a speck); the operand digit-count strata are the bands at 10, 100, ...
shaded alternately. Larger spaces are sampled (see space.py): each digit count then gets an
equal band, a pixel covers many questions, and it is red if any scored question in it is
wrong.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..data.questions import lowest_with_digits, num_digits, operands_with_digits
from .space import SpaceScore

SIDE = 1000  # the largest map, in pixels a side
MIN_SIDE = 500  # small spaces are enlarged to at least this
MARGIN = 60  # room for the operand labels, left and top
# Up to this many wrong answers are also circled: one red pixel in a million is easy to miss.
CIRCLED = 1000
RING = 6  # the circles' radius, in pixels
FOOTER = 40  # room for the caption
# Light shades for alternate strata (by la + lb) so their edges show; red for wrong answers.
SHADES = np.array([[222, 235, 247], [198, 219, 239]], dtype=np.uint8)
WRONG = np.array([214, 39, 40], dtype=np.uint8)
INK = (40, 40, 40)


def draw_space(score: SpaceScore, symbol: str) -> Image.Image:
    """The map of `score` as an RGB image, labelled and captioned."""
    digits = score.digits
    side, to_pixel, ticks = _axis(digits)
    length = _pixel_digits(side, digits)  # operand digit count at each pixel of an axis
    grid = SHADES[(length[:, None] + length[None, :]) % 2]
    wrong = ~score.right
    grid[to_pixel(score.a[wrong]), to_pixel(score.b[wrong])] = WRONG
    scale = max(1, MIN_SIDE // side)
    picture = Image.fromarray(grid, "RGB").resize((side * scale, side * scale), Image.NEAREST)

    font = ImageFont.load_default(size=12)
    scored = "every question" if not score.sampled else f"a sample of {len(score.a):,}"
    circled = int(wrong.sum()) <= CIRCLED
    caption = (
        f"{int(wrong.sum()):,} wrong (red{', circled' if circled else ''}) of {len(score.a):,} "
        "questions: "
        f"{scored}, operands of up to {digits} digit{'s' * (digits > 1)}; shading: operand digit "
        "counts"
    )
    measure = ImageDraw.Draw(picture)
    # Room on the right for the last label across, and for the caption below.
    width = (
        MARGIN
        + 8
        + max(
            side * scale + int(measure.textlength(f"{10**digits - 1:,}", font=font)),
            int(measure.textlength(caption, font=font)),
        )
    )
    canvas = Image.new("RGB", (width, MARGIN + side * scale + FOOTER), "white")
    canvas.paste(picture, (MARGIN, MARGIN))
    pen = ImageDraw.Draw(canvas)
    if circled:
        half = scale // 2
        for row, col in zip(to_pixel(score.a[wrong]).tolist(), to_pixel(score.b[wrong]).tolist()):
            x, y = MARGIN + col * scale + half, MARGIN + row * scale + half
            pen.ellipse(
                [x - RING - half, y - RING - half, x + RING + half, y + RING + half],
                outline=tuple(WRONG),
            )
    pen.text((MARGIN, 4), f"a {symbol} b: a down, b across", fill=INK, font=font)
    # A label too close to the previous one moves out by a line, so that none overlap.
    across_end = down_end = -100
    for value, pixel in ticks:
        at = MARGIN + pixel * scale
        label = f"{value:,}"
        pen.line([(at, MARGIN - 5), (at, MARGIN - 1)], fill=INK)  # b across the top
        shift = 14 if at < across_end else 0
        pen.text((at, MARGIN - 20 - shift), label, fill=INK, font=font)
        across_end = at + pen.textlength(label, font=font) + 4
        pen.line([(MARGIN - 5, at), (MARGIN - 1, at)], fill=INK)  # a down the left side
        shift = 14 if at < down_end else 0
        pen.text((MARGIN - 8, at + shift), label, fill=INK, font=font, anchor="ra")
        down_end = at + 14 + shift
    pen.text((MARGIN, MARGIN + side * scale + 10), caption, fill=INK, font=font)
    return canvas


def _pixel_digits(side: int, digits: int) -> np.ndarray:
    if 10**digits <= SIDE:
        return num_digits(np.arange(side, dtype=np.int64))
    return np.arange(side) // (side // digits) + 1


def _axis(digits: int):
    """Map side in pixels, operand -> pixel, and (value, pixel) ticks at each digit count."""
    if 10**digits <= SIDE:
        side = 10**digits
        ticks = [(lowest_with_digits(n), lowest_with_digits(n)) for n in range(1, digits + 1)]
        return side, lambda x: np.asarray(x, dtype=np.int64), ticks + [(side - 1, side - 1)]
    band = SIDE // digits
    side = band * digits

    # Indexed by digit count; float64, as (x - low) * band overflows int64 for long
    # operands and a pixel needs no more precision.
    low = np.array([0] + [lowest_with_digits(n) for n in range(1, digits + 1)], dtype=np.float64)
    count = np.array(
        [1] + [operands_with_digits(n) for n in range(1, digits + 1)], dtype=np.float64
    )

    def to_pixel(x):
        length = num_digits(x)
        within = np.minimum(((x - low[length]) / count[length] * band).astype(np.int64), band - 1)
        return (length - 1) * band + within

    ticks = [(lowest_with_digits(n), (n - 1) * band) for n in range(1, digits + 1)]
    return side, to_pixel, ticks + [(10**digits - 1, side - 1)]


def save_png(image: Image.Image, path) -> None:
    # Written to a path the caller makes atomic; the format is PNG whatever its suffix.
    image.save(path, format="PNG", optimize=True)
