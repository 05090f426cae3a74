"""The training curves as a picture: exact match and loss per epoch, train and validation.

`dvc plots show` draws dvclive's curves with Vega, which its page loads from the web, so
without a network they are blank. This PNG (drawn with Pillow, as the evaluate stage's map
of the question space is) shows the same curves, and `dvc plots show` embeds it as an
image. It is drawn from dvclive's files, so it shows what they hold.
"""

from __future__ import annotations

import csv
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

# (title, dvclive metric file name, column), one panel each.
PANELS = (("exact match", "exact_match"), ("loss", "loss"))
# (label, dvclive folder, colour): the series of each panel.
SERIES = (("train", "train", (31, 119, 180)), ("validation", "val", (255, 127, 14)))
WIDTH, HEIGHT = 360, 240  # one panel's plot area, in pixels
LEFT, TOP, BOTTOM, GAP = 64, 36, 44, 40
INK, GRID = (40, 40, 40), (225, 225, 225)


def read_series(plots_dir: Path, folder: str, metric: str) -> list[tuple[float, float]]:
    """(step, value) rows of dvclive's plots/metrics/<folder>/<metric>.tsv; [] if absent."""
    path = plots_dir / "metrics" / folder / f"{metric}.tsv"
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [
            (float(row["step"]), float(row[metric])) for row in csv.DictReader(fh, delimiter="\t")
        ]


def draw_curves(live_dir: str | Path) -> Image.Image:
    """Both panels side by side from dvclive's folder `live_dir` (its plots/ subfolder)."""
    plots = Path(live_dir) / "plots"
    font = ImageFont.load_default(size=12)
    canvas = Image.new("RGB", (len(PANELS) * (LEFT + WIDTH + GAP), TOP + HEIGHT + BOTTOM), "white")
    pen = ImageDraw.Draw(canvas)
    for index, (title, metric) in enumerate(PANELS):
        x0 = index * (LEFT + WIDTH + GAP) + LEFT
        series = [
            (label, colour, read_series(plots, folder, metric)) for label, folder, colour in SERIES
        ]
        _panel(pen, font, x0, title, series)
    return canvas


def _panel(pen: ImageDraw.ImageDraw, font, x0: int, title: str, series) -> None:
    points = [p for _, _, rows in series for p in rows]
    pen.text((x0, 8), f"{title} per epoch", fill=INK, font=font)
    pen.rectangle([x0, TOP, x0 + WIDTH, TOP + HEIGHT], outline=INK)
    if not points:
        pen.text((x0 + 10, TOP + 10), "no epochs recorded", fill=INK, font=font)
        return
    steps = sorted({step for step, _ in points})
    low, high = min(v for _, v in points), max(v for _, v in points)
    if high - low < 1e-12:
        low, high = low - 0.5, high + 0.5
    first, last = steps[0], max(steps[-1], steps[0] + 1)

    def at(step: float, value: float) -> tuple[float, float]:
        return (
            x0 + (step - first) / (last - first) * WIDTH,
            TOP + HEIGHT - (value - low) / (high - low) * HEIGHT,
        )

    for k in range(5):  # value grid and labels
        value = low + (high - low) * k / 4
        y = at(first, value)[1]
        if 0 < k < 4:
            pen.line([(x0 + 1, y), (x0 + WIDTH - 1, y)], fill=GRID)
        pen.text((x0 - 6, y), f"{value:.5g}", fill=INK, font=font, anchor="rm")
    for step in steps:  # one tick per epoch
        x = at(step, low)[0]
        pen.line([(x, TOP + HEIGHT), (x, TOP + HEIGHT + 4)], fill=INK)
        pen.text((x, TOP + HEIGHT + 6), f"{step:g}", fill=INK, font=font, anchor="ma")
    pen.text((x0 + WIDTH / 2, TOP + HEIGHT + 22), "epoch", fill=INK, font=font, anchor="ma")
    legend = x0 + WIDTH
    for label, colour, rows in reversed(series):
        legend -= pen.textlength(label, font=font) + 24
        pen.line([(legend, 16), (legend + 14, 16)], fill=colour, width=3)
        pen.text((legend + 18, 16), label, fill=INK, font=font, anchor="lm")
        xy = [at(step, value) for step, value in rows]
        if len(xy) > 1:
            pen.line(xy, fill=colour, width=2)
        for x, y in xy:
            pen.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)


def save_curves(live_dir: str | Path, path: str | Path) -> None:
    """draw_curves(live_dir) as a PNG at `path` (a path the caller makes atomic)."""
    draw_curves(live_dir).save(path, format="PNG", optimize=True)
