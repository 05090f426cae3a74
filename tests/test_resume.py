"""An interrupted training resumes after its last finished epoch and ends where an
uninterrupted one would have."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from arith_seq2seq.training import resume
from arith_seq2seq.training.fit import fit

from .conftest import TINY_PARAMS, tiny_config, train_command, train_sections, write_params

pytestmark = pytest.mark.slow

# Early stopping must not end the run before the interrupted one would have resumed.
TRAIN = {"max_epochs": 5, "patience": 5}


def digest(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}


@pytest.fixture(scope="module")
def uninterrupted(tiny_split, tmp_path_factory) -> dict[str, Path]:
    """The params, the uninterrupted run's folder, and a folder holding an earlier model and
    its curves (another seed), once for both signals (neither test changes them)."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    params = write_params(folder / "params.yaml", train_sections(TRAIN))
    whole = folder / "whole"
    done = subprocess.run(
        train_command(params, tiny_split, whole, "--state-dir", whole / "state"),
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "resuming" not in done.stdout
    earlier = write_params(
        folder / "earlier.yaml", train_sections({**TRAIN, "max_epochs": 1, "seed": 99})
    )
    assert (
        subprocess.run(
            train_command(earlier, tiny_split, folder / "earlier"), env=ENV, capture_output=True
        ).returncode
        == 0
    )
    return {"params": params, "whole": whole, "earlier": folder / "earlier"}


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill -9", "ctrl-c"])
def test_killed_training_resumes_and_ends_with_the_uninterrupted_model(
    tmp_path, tiny_split, uninterrupted, sig
):
    params, whole, env = uninterrupted["params"], uninterrupted["whole"], ENV

    # The folder being retrained holds an earlier model and its curves (another seed).
    cut = tmp_path / "cut"
    shutil.copytree(uninterrupted["earlier"], cut)
    old = {"model.pt": (cut / "model.pt").read_bytes(), "live": files(cut / "live")}
    assert old["live"]["metrics.json"] and old["model.pt"] != (whole / "model.pt").read_bytes()

    proc = subprocess.Popen(
        train_command(params, tiny_split, cut, "--state-dir", cut / "state"),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        # Ctrl-C as at a terminal, even when the tests run as a background job (whose
        # children inherit an ignored SIGINT, and would then train to the end).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Interrupt the stage once its first epoch is saved (the file appears complete, by rename).
    for line in proc.stdout:
        if line.startswith("Epoch 1/5"):
            while not (cut / "state" / "last.ckpt").exists() and proc.poll() is None:
                time.sleep(0.01)
            proc.send_signal(sig)
            break
    rest = proc.stdout.read()
    proc.wait()
    proc.stdout.close()
    # Until the new model is written, the model and dvclive's curves and summary beside it
    # are the earlier ones (dvclive wrote the killed run's into the state folder).
    # (Compared as digests: pytest's diff of two model files would take minutes.)
    assert digest((cut / "model.pt").read_bytes()) == digest(old["model.pt"]), (
        proc.returncode,
        rest[-2000:],
    )
    assert files(cut / "live") == old["live"]
    assert not [p.name for p in cut.iterdir() if p.name.startswith(".")]
    if sig == signal.SIGINT:
        # Lightning shuts down cleanly and exits 1; the stage says what to do next.
        assert proc.returncode == 1
        assert (
            f"train: interrupted; the finished epochs are saved in {cut / 'state'}: "
            "run `dvc repro` to resume" in rest
        )
    else:
        assert proc.returncode == -signal.SIGKILL
    last = torch.load(cut / "state" / "last.ckpt", map_location="cpu", weights_only=True)
    finished = last["epoch"] + 1
    assert 1 <= finished < TRAIN["max_epochs"]
    assert last["optimizer_states"][0]["state"], (
        "the optimiser state (Adam's moments) is in the checkpoint"
    )

    rerun = subprocess.run(
        train_command(params, tiny_split, cut, "--state-dir", cut / "state"),
        env=env,
        capture_output=True,
        text=True,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert f"train: resuming after epoch {finished} from" in rerun.stdout
    # Only the remaining epochs were trained.
    assert f"Epoch {finished}/5" not in rerun.stdout and f"Epoch {finished + 1}/5" in rerun.stdout

    # Same model file, byte for byte, and the same dvclive curves and summary, although the
    # killed run's files were cut off part way through an epoch.
    assert (cut / "model.pt").read_bytes() == (whole / "model.pt").read_bytes()
    assert files(cut / "live") == files(whole / "live")
    # Once the model is written the checkpoints have served their purpose; the finished
    # training stays, for a rerun after a kill before DVC records the outputs.
    for folder in (cut, whole):
        assert [p.name for p in (folder / "state").iterdir()] == [resume.FINISHED]


@pytest.fixture
def tiny_fit(tiny_split):
    def run(state_dir: Path, **train):
        return fit(
            tiny_config("model"),
            tiny_config("train", **{"show_samples": 0, **train}),
            tiny_split["train"],
            tiny_split["val"],
            progress=False,
            state_dir=state_dir,
        )

    return run


def same_weights(a, b) -> bool:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_finished_state_gives_back_the_same_model_without_training(tmp_path, capsys, tiny_fit):
    state = tmp_path / "state"
    first = tiny_fit(state)
    capsys.readouterr()
    again = tiny_fit(state)
    out = capsys.readouterr().out
    assert f"train: resuming after epoch {TINY_PARAMS['repeat']['max_epochs']} from" in out
    assert "Epoch " not in out
    assert same_weights(first, again) and first.info == again.info


def test_state_of_other_params_is_not_resumed(tmp_path, capsys, tiny_fit):
    state = tmp_path / "state"
    tiny_fit(state)
    capsys.readouterr()
    other = tiny_fit(state, lr=0.005)
    assert (
        "holds a training with other params, data or code; starting over" in capsys.readouterr().out
    )
    assert same_weights(other, tiny_fit(tmp_path / "fresh", lr=0.005))


def test_a_state_folder_means_no_temporary_folder(tmp_path, tiny_fit, monkeypatch):
    # A killed run would leave the temporary folder behind in /tmp.
    def refuse(*args, **kwargs):
        raise AssertionError("a temporary checkpoint folder was created")

    monkeypatch.setattr("arith_seq2seq.training.resume.tempfile.TemporaryDirectory", refuse)
    tiny_fit(tmp_path / "state", max_epochs=1)


def test_an_unreadable_state_is_not_resumed(tmp_path, capsys, tiny_fit):
    state = tmp_path / "state"
    state.mkdir()
    (state / f"{resume.LAST}.ckpt").write_bytes(b"PK\x03\x04 cut off")
    tiny_fit(state, max_epochs=1)
    assert (
        "is damaged or not a checkpoint of this project; starting over" in capsys.readouterr().out
    )


class Planted:
    """A pickle payload: unpickling it creates the file `marker`."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_planted_checkpoint_runs_no_code(tmp_path, capsys, tiny_fit):
    # The state folder is a plain folder in the workspace: whoever can write there must not
    # be able to run code in the next `dvc repro` (it did, through torch.load's pickle).
    state, marker = tmp_path / "state", tmp_path / "code-ran"
    state.mkdir()
    torch.save({resume.KEY: Planted(marker), "epoch": 0}, state / f"{resume.LAST}.ckpt")
    tiny_fit(state, max_epochs=1)
    assert not marker.exists()
    assert (
        "is damaged or not a checkpoint of this project; starting over" in capsys.readouterr().out
    )


def test_a_state_folder_that_moved_starts_over_instead_of_failing(tmp_path, capsys, tiny_fit):
    # Lightning's checkpoint names its folder by absolute path (the best epoch's file among
    # them): resumed after the repository was moved or renamed, the run stopped with
    # FileNotFoundError for the old path.
    first = tiny_fit(tmp_path / "before", max_epochs=1)
    moved = tmp_path / "after"
    (tmp_path / "before").rename(moved)
    capsys.readouterr()
    again = tiny_fit(moved, max_epochs=1)
    out = capsys.readouterr().out
    assert (
        "was written in another folder" in out and "starting over" in out and "resuming" not in out
    )
    assert same_weights(first, again)
