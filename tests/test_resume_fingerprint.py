"""The resume fingerprint covers the data files and the library's code, not only the
params: a rerun on other data or with other code starts over instead of resuming a
training that is not its own."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from arith_seq2seq.data import question_set
from arith_seq2seq.training import resume
from arith_seq2seq.training.fit import fit

from .conftest import ROOT, tiny_config, train_command, train_sections, write_params

MODEL = tiny_config("model")
# One epoch: a wrongly resumed training then trains nothing, and returns the old model.
TRAIN = tiny_config("train", show_samples=0, max_epochs=1)
OTHER_DATA = "holds a training with other params, data or code; starting over"


def copy_split(split: dict, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {
        name: Path(shutil.copy(split[name], folder / f"{name}.npz")) for name in ("train", "val")
    }


def swap_first_rows(path: Path) -> None:
    """Rewrite the file with its first two questions swapped: other bytes, the same size
    and the same set of questions (a fingerprint of shapes or of sorted content misses it)."""
    qs = question_set.load(path)
    order = np.arange(len(qs))
    order[[0, 1]] = order[[1, 0]]
    before = path.read_bytes()
    question_set.save(qs.take(order), path)
    after = path.read_bytes()
    assert after != before and len(after) == len(before)


def key(files: dict[str, Path]) -> str:
    return resume.fingerprint(MODEL, TRAIN, files["train"], files["val"])


def test_the_fingerprint_follows_the_bytes_of_the_train_and_val_files(tmp_path, tiny_split):
    files = copy_split(tiny_split, tmp_path / "a")
    original = key(files)
    # Files, not paths: the same bytes elsewhere (a queued experiment's copy) are the same training.
    assert key(copy_split(tiny_split, tmp_path / "b")) == original
    assert key(files) == original, "the fingerprint is not a pure function of its inputs"

    swap_first_rows(files["train"])
    changed_train = key(files)
    assert changed_train != original, "a changed train file keeps the fingerprint"

    files = copy_split(tiny_split, tmp_path / "c")
    swap_first_rows(files["val"])
    changed_val = key(files)
    assert changed_val != original, "a changed val file keeps the fingerprint"
    assert changed_val != changed_train

    # Which file is which matters too: train on val and select on train is another training.
    assert key({"train": tiny_split["val"], "val": tiny_split["train"]}) != key(tiny_split)


@pytest.mark.slow
@pytest.mark.parametrize("changed", ["train", "val"])
def test_a_state_of_other_data_is_not_resumed(tmp_path, capsys, tiny_split, changed):
    def run(files: dict[str, Path], state: Path):
        return fit(MODEL, TRAIN, files["train"], files["val"], progress=False, state_dir=state)

    files = copy_split(tiny_split, tmp_path / "data")
    state = tmp_path / "state"
    first = run(files, state)
    assert (state / f"{resume.LAST}.ckpt").is_file()
    capsys.readouterr()

    swap_first_rows(files[changed])
    rerun = run(files, state)
    out = capsys.readouterr().out
    assert OTHER_DATA in out
    assert "resuming" not in out
    # Trained again from the start, on the new data: the model a fresh state folder gives.
    fresh = run(files, tmp_path / "fresh")
    assert same_weights(rerun, fresh) and rerun.info == fresh.info
    if changed == "train":
        # (A changed val file may well select the same weights; a changed train order cannot.)
        assert not same_weights(rerun, first)


def same_weights(a, b) -> bool:
    sa, sb = a.model.state_dict(), b.model.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# Imports each given copy of the package in turn (in one interpreter, torch imported once)
# and prints the fingerprint its resume.py computes for the same params and data.
FINGERPRINTS = r"""
import importlib, json, sys
from pathlib import Path

roots, train, val, model, train_cfg = json.loads(sys.argv[1])
keys = []
for root in roots:
    for name in [m for m in sys.modules if m == "arith_seq2seq" or m.startswith("arith_seq2seq.")]:
        del sys.modules[name]
    sys.path.insert(0, root)
    resume = importlib.import_module("arith_seq2seq.training.resume")
    model_package = importlib.import_module("arith_seq2seq.model")
    params = importlib.import_module("arith_seq2seq.pipeline.params")
    assert Path(resume.__file__).is_relative_to(root), (resume.__file__, root)
    net = model_package.ARCHITECTURES[model["arch"]].config(**model)
    keys.append(resume.fingerprint(net, params.TrainConfig(**train_cfg), train, val))
    sys.path.remove(root)
print(json.dumps(keys))
"""


def copy_package(root: Path) -> Path:
    """A copy of the library's source (no bytecode) as `root`/arith_seq2seq."""
    shutil.copytree(
        ROOT / "src" / "arith_seq2seq",
        root / "arith_seq2seq",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    return root / "arith_seq2seq"


def edit(path: Path) -> None:
    path.write_text(path.read_text() + "\n# an edit\n")


def test_the_fingerprint_follows_the_library_source(tmp_path, tiny_split):
    # resume.fingerprint hashes the folder of its own module, so each variant is a copy of
    # the package imported from a fresh interpreter; the real source is never edited.
    same = copy_package(tmp_path / "same")
    top = copy_package(tmp_path / "top")
    edit(top / "training" / "fit.py")
    nested = copy_package(tmp_path / "nested")
    edit(nested / "model" / "repeat.py")
    args = [
        [str(p.parent) for p in (same, top, nested)],
        str(tiny_split["train"]),
        str(tiny_split["val"]),
        dataclasses.asdict(MODEL),
        dataclasses.asdict(TRAIN),
    ]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", FINGERPRINTS, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    in_same, in_top, in_nested = json.loads(done.stdout)
    # An identical copy of the code is the same training (as in a queued experiment's copy).
    assert in_same == key(tiny_split)
    assert in_top != in_same, "an edit of training/fit.py keeps the fingerprint"
    assert in_nested != in_same, "an edit of model/repeat.py keeps the fingerprint"


@pytest.mark.slow
def test_a_state_of_other_code_is_not_resumed(tmp_path, tiny_split):
    # The train stage of a copy of the repository imports the copy's library (see
    # stages/train.py), so editing the copy is editing "the code" for that stage.
    params = write_params(
        tmp_path / "params.yaml", train_sections(dataclasses.asdict(TRAIN), MODEL.arch)
    )
    state = tmp_path / "state"
    fit(MODEL, TRAIN, tiny_split["train"], tiny_split["val"], progress=False, state_dir=state)
    finished = TRAIN.max_epochs
    # Put back in the same place for the second run (a checkpoint names its folder's path).
    kept = shutil.copytree(state, tmp_path / "kept")

    def stage_in_copy(name: str, edited: bool) -> subprocess.CompletedProcess:
        copy = tmp_path / name
        shutil.copytree(
            ROOT / "stages", copy / "stages", ignore=shutil.ignore_patterns("__pycache__")
        )
        package = copy_package(copy / "src")
        if edited:
            edit(package / "training" / "fit.py")
        command = train_command(params, tiny_split, tmp_path / f"{name}-out", "--state-dir", state)
        command[1] = str(copy / "stages" / "train.py")
        env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "NO_COLOR": "1"}
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        return done

    # The same code elsewhere resumes the finished training (and trains no epoch)...
    same = stage_in_copy("same", edited=False)
    assert f"train: resuming after epoch {finished} from" in same.stdout
    assert "Epoch 1/" not in same.stdout
    # ...edited code starts over.
    assert [p.name for p in state.iterdir()] == ["finished"]
    shutil.rmtree(state)
    shutil.copytree(kept, state)
    edited = stage_in_copy("edited", edited=True)
    assert OTHER_DATA in edited.stdout
    assert "resuming" not in edited.stdout and f"Epoch {finished}/{finished}" in edited.stdout
