"""Stages killed while writing: the previous outputs survive whole, nothing half-written
sits at an output path, and what the killed process left behind does not confuse later runs.

Deterministic: the stage runs in a real process that SIGKILLs itself at a chosen point of
its writing (no timing involved), so no `finally`, no clean-up and no atomic rename runs
after that point, exactly as with `kill -9` or the machine losing power.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from arith_seq2seq.data import question_set

from .conftest import ROOT, evaluate_args, run_stage, split_args, write_params

# Runs a stage with one of these kill points (environment variable KILL_AT):
#   npz:K:B    during the K-th .npz written, once B bytes of it are written (and flushed)
#   csv:N      during the N-th DataFrame.to_csv, half of its text written
#   moved:PATH right after os.replace moved PATH away (atomic_dir's first rename)
#   ctrl-c:N   SIGINT at the start of the N-th DataFrame.to_csv
_KILLING_STAGE = r"""
import os, runpy, signal, sys, zipfile

import pandas as pd

kind, _, spec = os.environ["KILL_AT"].partition(":")


def die(flush=None):
    if flush is not None:
        flush.flush()
        os.fsync(flush.fileno())
    os.kill(os.getpid(), signal.SIGKILL)


if kind == "npz":
    target, after = map(int, spec.split(":"))
    archives = []
    zip_init, zip_open = zipfile.ZipFile.__init__, zipfile.ZipFile.open

    def init(self, file, mode="r", *args, **kwargs):
        zip_init(self, file, mode, *args, **kwargs)
        if mode == "w":
            archives.append(self)
            self.kill_written = 0

    class Member:
        def __init__(self, inner, archive):
            self.inner, self.archive = inner, archive

        def write(self, data):
            n = self.inner.write(data)
            self.archive.kill_written += memoryview(data).nbytes
            if (
                len(archives) == target
                and archives[-1] is self.archive
                and self.archive.kill_written >= after
            ):
                die(self.archive.fp)
            return n

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.inner.__exit__(*exc)

    def open_(self, name, mode="r", *args, **kwargs):
        member = zip_open(self, name, mode, *args, **kwargs)
        return Member(member, self) if mode == "w" else member

    zipfile.ZipFile.__init__, zipfile.ZipFile.open = init, open_
elif kind == "csv":
    target, calls, to_csv = int(spec), [], pd.DataFrame.to_csv

    def killing_to_csv(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == target:
            text = to_csv(self, None, *args, **kwargs)
            with open(path, "w") as fh:
                fh.write(text[: len(text) // 2])
                die(fh)
        return to_csv(self, path, *args, **kwargs)

    pd.DataFrame.to_csv = killing_to_csv
elif kind == "ctrl-c":  # SIGINT, as Ctrl-C sends it, at the start of the N-th DataFrame.to_csv
    target, calls, to_csv = int(spec), [], pd.DataFrame.to_csv

    def interrupted_to_csv(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == target:
            os.kill(os.getpid(), signal.SIGINT)
        return to_csv(self, path, *args, **kwargs)

    pd.DataFrame.to_csv = interrupted_to_csv
elif kind == "moved":
    replace = os.replace

    def killing_replace(src, dst, *args, **kwargs):
        replace(src, dst, *args, **kwargs)
        if os.fspath(src) == spec:
            die()

    os.replace = killing_replace

sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def run_killed(
    kill_at: str, name: str, *args, status: int = -signal.SIGKILL
) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            _KILLING_STAGE,
            str(ROOT / "stages" / f"{name}.py"),
            *map(str, args),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "KILL_AT": kill_at},
    )
    # Killed where intended, not finished nor failed some other way.
    assert result.returncode == status, (result.returncode, result.stderr)
    return result


def files(folder: Path) -> dict[str, bytes]:
    """The outputs under `folder`: every file but hidden ones (temporary) and params.yaml."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.name != "params.yaml"
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


def leftovers(folder: Path) -> list[str]:
    """Names of the temporary files and folders atomic writes leave when killed."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name)


def generate(folder: Path, **data):
    params = write_params(folder / "params.yaml", {"data": data})
    return (
        "generate",
        "--params",
        params,
        "--out",
        folder / "questions.npz",
        "--longer-dir",
        folder / "longer",
    )


def test_generate_killed_while_writing_keeps_the_previous_data(tmp_path):
    assert run_stage(*generate(tmp_path, seed=8)).returncode == 0
    before = files(tmp_path)
    # .npz files written, in order: longer/digits_3.npz, longer/chains_3.npz, then questions.npz.
    for kill_at in ("npz:1:0", "npz:3:4096"):
        run_killed(kill_at, *generate(tmp_path, seed=9))
        assert files(tmp_path) == before, kill_at
        assert leftovers(tmp_path), "the kill should have left a temporary file or folder"
        # What a later stage reads is the previous, complete data.
        question_set.load(tmp_path / "questions.npz")
        assert list(question_set.load_longer(tmp_path / "longer")) == [
            tmp_path / "longer" / "digits_3.npz",
            tmp_path / "longer" / "chains_3.npz",
        ]
    # The next run is not confused by the leftovers: it writes the new data in place.
    assert run_stage(*generate(tmp_path, seed=9)).returncode == 0
    assert files(tmp_path)["questions.npz"] != before["questions.npz"]
    assert sorted(p.name for p in (tmp_path / "longer").iterdir()) == [
        "chains_3.npz",
        "digits_3.npz",
    ]
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert run_stage(*generate(fresh, seed=9)).returncode == 0
    assert (tmp_path / "questions.npz").read_bytes() == (fresh / "questions.npz").read_bytes()


def test_generate_killed_while_swapping_the_longer_folder_is_not_read_as_no_longer_sets(
    tmp_path, tiny_model, tiny_split
):
    # atomic_dir moves the old folder aside, then the new one in: killed in between, the
    # folder is missing. evaluate used to read that as "no longer sets" and score without them.
    assert run_stage(*generate(tmp_path, seed=8)).returncode == 0
    run_killed(f"moved:{tmp_path / 'longer'}", *generate(tmp_path, seed=9))
    assert not (tmp_path / "longer").exists()
    out = tmp_path / "out"
    split = {**tiny_split, "test": tmp_path / "questions.npz", "longer": tmp_path / "longer"}
    result = run_stage("evaluate", *evaluate_args(tmp_path / "params.yaml", tiny_model, split, out))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 'longer'}: no such folder of longer held-out sets; "
        "run `dvc repro` (stage generate) to create it"
    ]
    assert not out.exists()
    assert run_stage(*generate(tmp_path, seed=9)).returncode == 0
    assert sorted(p.name for p in (tmp_path / "longer").iterdir()) == [
        "chains_3.npz",
        "digits_3.npz",
    ]


def test_split_killed_while_writing_keeps_all_three_previous_parts(tmp_path):
    # The parts used to be replaced one by one: killed after train.npz, a new train set
    # sat beside the old test set, which shares questions with it.
    assert run_stage(*generate(tmp_path, seed=8)).returncode == 0
    params = tmp_path / "params.yaml"
    parts = [tmp_path / "split" / f"{name}.npz" for name in ("train", "val", "test")]
    args = split_args(params, tmp_path / "questions.npz", *parts)
    assert run_stage("split", *args).returncode == 0
    before = files(tmp_path / "split")
    write_params(params, {"data": {"seed": 8}, "split": {"seed": 99}})
    for kill_at in ("npz:1:0", "npz:2:0", "npz:3:1000"):
        run_killed(kill_at, "split", *args)
        assert files(tmp_path / "split") == before, kill_at
        assert leftovers(tmp_path / "split")
    assert run_stage("split", *args).returncode == 0
    train, val, test = (question_set.load(p) for p in parts)
    train_keys = set(zip(train.a.tolist(), train.b.tolist()))
    assert not train_keys & set(zip(test.a.tolist(), test.b.tolist()))
    assert not train_keys & set(zip(val.a.tolist(), val.b.tolist()))


def evaluated_then_changed(
    folder: Path, model: Path, split: dict
) -> tuple[list, Path, dict[str, bytes]]:
    """Evaluate once into `folder`/out, then change an evaluate param: the stage's arguments,
    its output folder and the outputs that a failed or interrupted rerun must leave."""
    params = write_params(folder / "params.yaml")
    out = folder / "out"
    args = evaluate_args(params, model, split, out)
    assert run_stage("evaluate", *args).returncode == 0
    write_params(params, {"evaluate": {"max_errors": 3}})
    return args, out, files(out)


def test_evaluate_killed_while_writing_keeps_all_previous_outputs(tmp_path, tiny_model, tiny_split):
    args, out, before = evaluated_then_changed(tmp_path, tiny_model, tiny_split)
    # to_csv calls, in order: errors, by carries, by digits (the JSON comes last).
    for kill_at in ("csv:2", "csv:3"):
        run_killed(kill_at, "evaluate", *args)
        assert files(out) == before, kill_at
        assert leftovers(out)
    assert run_stage("evaluate", *args).returncode == 0
    assert len((out / "e.csv").read_text().splitlines()) == 4
    assert set(json.loads((out / "m.json").read_text())["longer"]) == {"digits_3", "chains_3"}


def test_ctrl_c_during_evaluate_is_one_line_and_keeps_every_output(
    tmp_path, tiny_model, tiny_split
):
    # It printed a 36-line traceback.
    args, out, before = evaluated_then_changed(tmp_path, tiny_model, tiny_split)
    result = run_killed("ctrl-c:2", "evaluate", *args, status=130)
    assert result.stderr.splitlines() == [
        "interrupted; the outputs are as they were before this run"
    ]
    assert files(out) == before and leftovers(out) == []


def test_a_temporary_file_left_in_the_longer_folder_is_not_read_as_a_set(
    tmp_path, tiny_model, tiny_split
):
    longer = tmp_path / "longer"
    longer.mkdir()
    for path in tiny_split["longer"].iterdir():
        longer.joinpath(path.name).write_bytes(path.read_bytes())
    good = (longer / "digits_3.npz").read_bytes()
    (longer / ".digits_4.npz.x1y2z3.tmp").write_bytes(good[: len(good) // 2])
    out = tmp_path / "out"
    split = {**tiny_split, "longer": longer}
    result = run_stage(
        "evaluate", *evaluate_args(write_params(tmp_path / "params.yaml"), tiny_model, split, out)
    )
    assert result.returncode == 0, result.stderr
    assert set(json.loads((out / "m.json").read_text())["longer"]) == {"digits_3", "chains_3"}
    assert np.array_equal(
        question_set.load(longer / "digits_3.npz").a,
        question_set.load(tiny_split["longer"] / "digits_3.npz").a,
    )
