"""A metric is one function: registered in evaluation/metrics.py, it is logged per epoch by
training, written into evaluate's metrics JSON and printed in its summary line, with no
other change (docs/layout.md, "Walkthrough: add a metric"). The default metrics keep the
keys, and the order, of the recorded outputs."""

import json

import numpy as np
import pytest

from arith_seq2seq.data import question_set
from arith_seq2seq.evaluation import metrics
from arith_seq2seq.evaluation.metrics import METRICS, headline_first, mean_scores, metric
from arith_seq2seq.model import model_file
from arith_seq2seq.model.answering import answer_questions
from arith_seq2seq.training.fit import fit

from .conftest import (
    EVALUATE_OUTPUTS,
    ROOT,
    evaluate_args,
    run_stage_in_process,
    tiny_config,
    write_params,
)

NAME = "answer_length_right"


@pytest.fixture
def answer_length_right(tiny_split):
    """A metric defined here, not in src/, registered as src/ registers one: per answer,
    is its length right (the padding where the true answer's is)? Unregistered after."""
    pad = question_set.load(tiny_split["train"]).format.vocab.pad_id

    def answer_length_right(pred, target):
        return ((pred == pad) == (target == pad)).all(-1)

    metric(NAME)(answer_length_right)
    try:
        yield answer_length_right
    finally:
        del METRICS[NAME]


@pytest.mark.slow
def test_a_registered_metric_is_logged_per_epoch_written_and_printed(
    answer_length_right, tiny_split, tmp_path
):
    net = tiny_config("model")
    live = tmp_path / "live"
    trained = fit(
        net,
        tiny_config("train", arch=net.arch, max_epochs=1),
        tiny_split["train"],
        tiny_split["val"],
        live_dir=live,
        progress=False,
    )
    # Training: logged for both stages after the default metrics, with its curve.
    logged = json.loads((live / "metrics.json").read_text())
    assert list(logged["train"]) == ["loss", "char_accuracy", "exact_match", NAME]
    assert list(logged["val"]) == ["loss", "char_accuracy", "exact_match", NAME, "best_exact_match"]
    assert (live / "plots" / "metrics" / "val" / f"{NAME}.tsv").is_file()
    val = question_set.load(tiny_split["val"])
    greedy = answer_questions(trained.model, val.question, val.answer.shape[1])[0]
    expected = float(answer_length_right(greedy, val.answer).mean())
    # (One epoch: the last epoch's logged value is the kept model's.)
    assert logged["val"][NAME] == pytest.approx(expected, abs=1e-5)

    # Evaluation: in the test figures after the default ones, and in the summary line.
    model = tmp_path / "model.pt"
    model_file.save(model, trained)
    out = tmp_path / "out"
    out.mkdir()
    params = write_params(tmp_path / "params.yaml")
    result = run_stage_in_process("evaluate", *evaluate_args(params, model, tiny_split, out))
    assert result.returncode == 0, result.stderr
    test = json.loads((out / EVALUATE_OUTPUTS["--metrics"]).read_text())["test"]
    assert list(test) == ["exact_match", "char_accuracy", NAME, "n_samples", "n_errors"]
    qs = question_set.load(tiny_split["test"])
    pred = answer_questions(trained.model, qs.question, qs.answer.shape[1])[0]
    assert test[NAME] == pytest.approx(float(answer_length_right(pred, qs.answer).mean()))
    assert f", answer length right {test[NAME]:.6f}; whole space" in result.stdout


def test_the_default_metrics_keep_the_recorded_keys_and_their_order():
    # metrics/train/metrics.json and metrics/evaluate.json are outputs DVC records; the
    # registry's order is the order of their keys.
    pred = target = np.zeros((2, 3), dtype=np.uint8)
    train = json.loads((ROOT / "metrics" / "train" / "metrics.json").read_text())
    assert list(train["train"]) == ["loss", *METRICS]
    assert list(train["val"]) == ["loss", *METRICS, f"best_{metrics.HEADLINE}"]
    scores = headline_first(mean_scores(pred, target))
    evaluated = json.loads((ROOT / "metrics" / "evaluate.json").read_text())
    assert list(evaluated["test"]) == [*scores, "n_samples", "n_errors"]
    assert list(scores) == ["exact_match", "char_accuracy"]


def test_a_metric_name_is_registered_once():
    with pytest.raises(ValueError, match="'exact_match' is registered twice"):
        metric("exact_match")(lambda pred, target: pred == target)
    assert list(METRICS) == ["char_accuracy", "exact_match"]


def test_no_rows_score_zero():
    empty = np.zeros((0, 3), dtype=np.uint8)
    assert mean_scores(empty, empty) == {"char_accuracy": 0.0, "exact_match": 0.0}
