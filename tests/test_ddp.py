"""Training on two CPU processes under DDP (gloo), through the real train stage."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest

from arith_seq2seq.data import question_set, splitting
from arith_seq2seq.data.questions import generate_questions
from arith_seq2seq.evaluation.metrics import exact_match
from arith_seq2seq.model import answering, model_file

from .conftest import TINY_PARAMS, config, train_command, write_params

pytestmark = pytest.mark.slow


def ddp_run(tmp_path, seed: int | None = None):
    """The train stage in two processes on 3,010 tiny questions (train.seed `seed`,
    TINY_PARAMS's by default): the finished process, the model file, the validation set and
    its exact match, rescored here."""
    # 3,010 questions: 301 for validation, shared 151 / 150 by the two processes, so a
    # mean of the two per-process scores would not be the score over all 301.
    # Reference sampling: one order per pair, so no mirror pairs make the split sizes inexact.
    data = {**TINY_PARAMS["data"], "count": 3010, "sampling": "reference"}
    qs = generate_questions(config("data", **data))
    train, val, _ = splitting.split(qs, config("split", **TINY_PARAMS["split"]))
    assert len(val) % 2 == 1
    files = {"train": tmp_path / "train.npz", "val": tmp_path / "val.npz"}
    question_set.save(train, files["train"])
    question_set.save(val, files["val"])
    train = {"devices": 2} if seed is None else {"devices": 2, "seed": seed}
    params = write_params(
        tmp_path / "params.yaml",
        {"data": data, "train": train, "repeat": {"max_epochs": 4, "batch_size": 32, "lr": 0.02}},
    )
    out = tmp_path / "out"
    result = subprocess.run(
        train_command(params, files, out, "--state-dir", out / "state"),
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    trained = model_file.load(out / "model.pt")
    predicted, _ = answering.answer_questions(trained.model, val.question)
    return result, trained, val, float(exact_match(predicted, val.answer).mean())


@pytest.mark.trains
def test_two_processes_train_one_model_whose_val_score_holds_up(tmp_path):
    # bench/test_thresholds.py (setting ddp) reruns this training over 5 seeds x 2 CPU
    # settings into bench/test-thresholds.json.
    result, trained, val, rescored = ddp_run(tmp_path)
    out = tmp_path / "out"
    assert "(2 processes)" in result.stdout
    # One process printed the epoch samples and wrote the outputs.
    assert result.stdout.count("Epoch 1/4") == 1
    assert sorted(p.name for p in out.iterdir()) == ["live", "model.pt", "state"]
    assert [p.name for p in (out / "state").iterdir()] == ["finished"]  # the finished training only

    assert trained.info["processes"] == 2
    assert 0 < rescored < 1, "a score of 0 or 1 would not tell a wrong reduction apart"
    assert trained.info["best_val_exact_match"] == pytest.approx(rescored, abs=1e-6)
    summary = json.loads((out / "live" / "metrics.json").read_text())
    assert summary["val"]["best_exact_match"] == pytest.approx(rescored, abs=1e-6)


def test_a_machine_waiting_for_its_partners_says_so(tmp_path, tiny_split):
    params = write_params(tmp_path / "params.yaml", {"train": {"num_nodes": 2}})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "PYTHONUNBUFFERED": "1",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "NODE_RANK": "0",
        "WORLD_SIZE": "2",
    }
    proc = subprocess.Popen(
        train_command(params, tiny_split, tmp_path),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        # The second machine never comes: the first must say what it is waiting for (once it
        # has said which precision it trains in).
        precision, line = proc.stdout.readline(), proc.stdout.readline()
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert precision.startswith("train: precision ")
    assert (
        line.strip()
        == f"train: waiting for all 2 processes on 2 machines to join at 127.0.0.1:{port}"
    )
