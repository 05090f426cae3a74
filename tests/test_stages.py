"""The stage entry points on bad input: one clear message, exit code 2, nothing written."""

import json
import os
import shutil
import subprocess
import sys
import tracemalloc

import pandas as pd
import pytest
from PIL import Image

from arith_seq2seq.data import question_set
from arith_seq2seq.data.questions import generate_questions

from .conftest import (
    ROOT,
    config,
    evaluate_args,
    run_stage,
    run_stage_in_process,
    split_args,
    train_command,
    write_params,
)


def assert_user_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_generate_then_split_write_their_outputs(tmp_path):
    params = write_params(tmp_path / "params.yaml")
    out = tmp_path / "q.npz"
    assert (
        run_stage(
            "generate", "--params", params, "--out", out, "--longer-dir", tmp_path / "longer"
        ).returncode
        == 0
    )
    paths = [tmp_path / f"{n}.npz" for n in ("train", "val", "test")]
    result = run_stage(
        "split",
        *split_args(params, out, paths[0], paths[1], paths[2]),
    )
    assert result.returncode == 0, result.stderr
    # 80/10/10, give or take a question: a+b and b+a land in the same part.
    sizes = [int(n.replace(",", "")) for n in result.stdout.split("=")[1].split("/")]
    assert sum(sizes) == 3000 and all(
        abs(n - want) <= 1 for n, want in zip(sizes, (2400, 300, 300))
    )
    assert all(p.is_file() for p in paths)
    assert sorted(p.name for p in (tmp_path / "longer").iterdir()) == [
        "chains_3.npz",
        "digits_3.npz",
    ]


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        ({"data": {"digitz": 2}}, ["unknown key data.digitz"]),
        ({"data": {"digits": 0}}, ["data.digits must be at least 1"]),
        ({"data": {"digits": 1, "count": 101}}, ["data.count is 101", "only 100 distinct ordered"]),
        (
            {"data": {"digits": 1, "count": 56, "sampling": "reference"}},
            ["data.count is 56", "only 55 distinct"],
        ),
        (
            {"data": {"sampling": "uniform"}},
            ["data.sampling is 'uniform'; choose one of balanced, reference"],
        ),
    ],
)
def test_generate_refuses_bad_params_and_keeps_the_old_output(tmp_path, overrides, fragments):
    params = write_params(tmp_path / "params.yaml", overrides)
    out = tmp_path / "q.npz"
    out.write_bytes(b"previous output")
    assert_user_error(
        run_stage(
            "generate", "--params", params, "--out", out, "--longer-dir", tmp_path / "longer"
        ),
        *fragments,
    )
    assert out.read_bytes() == b"previous output"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml", "q.npz"]


@pytest.mark.parametrize(
    "overrides, fragments",
    [
        ({"repeat": {"cell": "lstmm"}}, ["repeat.cell is 'lstmm'"]),
        (
            {"aligned": {"embedding_dim": 8}},
            ["unknown key aligned.embedding_dim (aligned does not use it"],
        ),
        (
            {"train": {"lr": 0.01}},
            ["unknown key train.lr (an architecture's network and training recipe"],
        ),
    ],
)
def test_check_params_refuses_a_bad_section_generate_does_not_read(tmp_path, overrides, fragments):
    # generate reads the data section alone (so that it imports no model code); the whole
    # file is check_params', which runs before it and writes no stamp for a bad file.
    params = write_params(tmp_path / "params.yaml", overrides)
    stamp = tmp_path / "params.checked"
    assert_user_error(run_stage("check_params", "--params", params, "--out", stamp), *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


def test_split_refuses_fractions_that_leave_no_training_data(tmp_path, tiny_split):
    params = write_params(
        tmp_path / "params.yaml", {"split": {"val_fraction": 0.6, "test_fraction": 0.4}}
    )
    result = run_stage(
        "split",
        *split_args(
            params, tiny_split["train"], tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"
        ),
    )
    assert_user_error(result, "leaves no training data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


@pytest.mark.parametrize("damage", ["missing", "truncated", "not npz"])
def test_split_refuses_a_bad_questions_file(tmp_path, tiny_split, damage):
    params = write_params(tmp_path / "params.yaml")
    source = tmp_path / "q.npz"
    if damage == "truncated":
        source.write_bytes(tiny_split["train"].read_bytes()[:500])
    elif damage == "not npz":
        source.write_text("hello")
    result = run_stage(
        "split",
        *split_args(params, source, tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"),
    )
    assert_user_error(result, str(source))
    assert not (tmp_path / "a.npz").exists()


def test_evaluate_refuses_a_corrupt_model_and_writes_nothing(tmp_path, tiny_split, tiny_model):
    params = write_params(tmp_path / "params.yaml")
    model = tmp_path / "model.pt"
    model.write_bytes(tiny_model.read_bytes()[:2000])
    result = run_stage("evaluate", *evaluate_args(params, model, tiny_split, tmp_path / "out"))
    assert_user_error(result, "model.pt: not a readable model file")
    assert not (tmp_path / "out").exists()


def test_evaluate_refuses_test_data_of_another_shape(tmp_path, tiny_model):
    params = write_params(tmp_path / "params.yaml", {"data": {"digits": 3, "longer_digits": [4]}})
    questions = tmp_path / "q3.npz"
    assert (
        run_stage(
            "generate", "--params", params, "--out", questions, "--longer-dir", tmp_path / "longer"
        ).returncode
        == 0
    )
    split = {"train": questions, "val": questions, "test": questions, "longer": tmp_path / "longer"}
    result = run_stage("evaluate", *evaluate_args(params, tiny_model, split, tmp_path / "out"))
    assert_user_error(result, "2 digits", "3 digits")


def test_evaluate_writes_metrics_and_error_cases(tmp_path, tiny_split, tiny_model):
    params = write_params(tmp_path / "params.yaml", {"evaluate": {"max_errors": 3}})
    out = tmp_path / "out"
    result = run_stage("evaluate", *evaluate_args(params, tiny_model, tiny_split, out))
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "m.json").read_text())
    assert set(summary) == {"test", "exact_match_by", "longer", "space"}
    # The tiny model is the repeat architecture, which cannot write longer answers.
    assert summary["longer"] == {"digits_3": "not applicable", "chains_3": "not applicable"}
    groups = set(summary["exact_match_by"])
    assert {g for g in groups if g.startswith("digits_")} <= {
        f"digits_{a}+{b}" for a in (1, 2) for b in (1, 2)
    }
    assert {g for g in groups if g.startswith("carries_")} <= {
        "carries_0",
        "carries_1",
        "carries_2",
    }
    # Two-digit operands: all 10,000 ordered questions are scored.
    space = summary["space"]
    assert (space["questions"], space["scored"]) == (10_000, 10_000)
    assert set(space["by_digits"]) == {"1+1", "1+2", "2+1", "2+2"}
    assert space["worst"]["exact_match"] == min(space["by_digits"].values())
    assert space["errors"] >= summary["test"]["n_errors"]
    errors = pd.read_csv(out / "e.csv")
    assert len(errors) == min(3, space["errors"])
    assert set(errors["split"]) <= {"train", "val", "test", "none"}
    assert (out / "c.csv").read_text().startswith("carries,n,exact_match")
    with Image.open(out / "space.png") as image:
        assert image.format == "PNG" and image.width > 500 and image.height > 500
    assert f"{space['exact_match']:.6f}" in result.stdout and "worst digits" in result.stdout


def test_split_needs_about_the_memory_of_its_input(tmp_path, monkeypatch):
    # It used to hold the input and a copy of every part (twice the data); now each part
    # is written straight from its rows, a chunk at a time.
    questions = generate_questions(config("data", digits=6, count=1_000_000, seed=5))
    size = sum(getattr(questions, name).nbytes for name in ("question", "answer", "a", "b"))
    source = tmp_path / "q.npz"
    question_set.save(questions, source)
    del questions
    monkeypatch.setattr(question_set, "_WRITE_CHUNK", 1 << 20, raising=False)
    params = write_params(tmp_path / "params.yaml")
    tracemalloc.start()
    try:
        result = run_stage_in_process(
            "split",
            *split_args(params, source, tmp_path / "a.npz", tmp_path / "b.npz", tmp_path / "c.npz"),
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.returncode == 0, result.stderr
    # The input, one int64 row number per question, and chunks.
    assert peak < size + 8 * 1_000_000 + (8 << 20), (
        f"peak {peak / 1e6:.0f} MB for {size / 1e6:.0f} MB of questions"
    )
    parts = [question_set.load(tmp_path / f"{name}.npz") for name in "abc"]
    assert sum(len(p) for p in parts) == 1_000_000


@pytest.mark.parametrize("name", ["generate", "split", "train", "evaluate"])
def test_a_stage_imports_the_library_of_its_own_copy_of_the_repository(tmp_path, name):
    # A queued or --temp experiment runs the stages in a copy of the repository; the
    # editable install points at the workspace's library, whose code dvc.lock does not
    # record for that run (and which may have changed since the experiment was queued).
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "stages", copy / "stages", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(
        ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    init = copy / "src" / "arith_seq2seq" / "__init__.py"
    init.write_text(init.read_text() + "\nprint('library of the copy', flush=True)\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, str(copy / "stages" / f"{name}.py"), "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("library of the copy\n")


def test_a_refused_write_is_one_line_and_keeps_the_outputs(tmp_path, tiny_split, tiny_model):
    # The system refusing a write (here a file where the resume folder should be; a full
    # disk or a read-only folder alike) was an OSError traceback.
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(tiny_model, out / "model.pt")
    blocker = tmp_path / "state"
    blocker.write_text("not a folder")
    params = write_params(tmp_path / "params.yaml", {"repeat": {"max_epochs": 1}})
    done = run_stage_in_process(
        "train", *train_command(params, tiny_split, out, "--state-dir", blocker)[2:]
    )
    assert done.returncode == 1, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: {blocker}") and line.endswith(
        "; the outputs are as they were before this run"
    )
    assert (out / "model.pt").read_bytes() == tiny_model.read_bytes()
