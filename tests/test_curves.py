"""The training curves as a PNG (metrics/train/curves.png): `dvc plots show` embeds it as
an image, so the curves can be read without the network Vega needs."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml
from PIL import Image

from arith_seq2seq.training.curves import draw_curves, read_series

from .conftest import ROOT, train_command, write_params


@pytest.mark.slow
def test_the_train_stage_draws_its_curves(tiny_split, tmp_path):
    params = write_params(tmp_path / "params.yaml")
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(train_command(params, tiny_split, out), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    png = out / "live" / "curves.png"
    with Image.open(png) as image:
        image.verify()
    with Image.open(png) as image:
        assert image.format == "PNG" and image.size[0] > 600 and image.size[1] > 200
        # Both series in both panels: the legend's and the lines' colours are drawn.
        colours = {colour for _, colour in image.convert("RGB").getcolors(1 << 20)}
    assert {(31, 119, 180), (255, 127, 14)} <= colours
    # Drawn from dvclive's files, the same bytes each time.
    epochs = [step for step, _ in read_series(out / "live" / "plots", "val", "exact_match")]
    assert epochs == [1.0, 2.0]
    again = tmp_path / "again.png"
    draw_curves(out / "live").save(again, format="PNG", optimize=True)
    assert again.read_bytes() == png.read_bytes()


def test_dvc_yaml_has_the_picture_as_a_plot_in_git():
    train = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["train"]
    assert {"metrics/train/curves.png": {"cache": False}} in train["plots"]
    assert "--live-dir metrics/train" in train["cmd"]


def test_curves_of_an_empty_folder_are_still_a_picture(tmp_path):
    image = draw_curves(tmp_path)
    assert image.size[0] > 600


@pytest.mark.slow
def test_dvc_plots_show_embeds_the_picture(repo):
    """In the reproduced tiny pipeline: the page `dvc plots show` writes has the curves
    and the map of the question space as images it holds itself, not fetched from the web."""
    assert (repo.path / "metrics/train/curves.png").is_file()
    assert (
        repo.run("git", "ls-files", "metrics/train/curves.png").strip()
        == "metrics/train/curves.png"
    )
    repo.run("dvc", "plots", "show")
    html = (repo.path / "dvc_plots" / "index.html").read_text()
    images = re.findall(r'<img src="([^"]+)"', html)
    assert any("curves.png" in src for src in images) and any(
        "space.png" in src for src in images
    ), images
    for src in images:
        assert not src.startswith("http") and (repo.path / "dvc_plots" / src).is_file(), src
