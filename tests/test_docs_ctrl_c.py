"""What docs/reliability.md says Ctrl-C does to the train stage during its epochs: Lightning
stops the training, the stage prints training's own line (docs/resume.md) and exits with 1,
not the other stages' 130, and the model file is not written."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from .conftest import train_command, write_params
from .test_docs import page


@pytest.mark.slow
def test_ctrl_c_during_an_epoch_exits_1_with_trainings_line(tiny_split, tmp_path):
    params = write_params(
        tmp_path / "params.yaml", {"repeat": {"max_epochs": 200, "patience": 200}}
    )
    state = tmp_path / "state"
    proc = subprocess.Popen(
        train_command(params, tiny_split, tmp_path, "--state-dir", state),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not (state / "last.ckpt").exists():  # an epoch has ended: training is under way
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no epoch finished"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 1, err[-3000:]
    line = (
        f"train: interrupted; the finished epochs are saved in {state}: run `dvc repro` to resume"
    )
    assert line in out.splitlines(), out[-3000:]
    assert "interrupted; the outputs are as they were before this run" not in err
    assert not (tmp_path / "model.pt").exists()
    text = " ".join(page("docs/reliability.md").split())
    assert "During training (the train stage's epochs) Lightning stops the training itself" in text
    assert "and exits with 1" in text
