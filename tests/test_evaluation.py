import numpy as np
import pytest

from arith_seq2seq.data import question_set
from arith_seq2seq.data.questions import count_carries
from arith_seq2seq.evaluation.scoring import evaluate
from arith_seq2seq.model import model_file


def test_metrics_breakdowns_and_error_rows_agree(tiny_model, tiny_split):
    trained = model_file.load(tiny_model)
    test = question_set.load(tiny_split["test"])
    result = evaluate(trained, test, batch_size=64)
    summary = result.metrics["test"]
    assert summary["n_samples"] == len(test)
    assert summary["n_errors"] == len(result.errors)
    assert summary["exact_match"] == pytest.approx(1 - summary["n_errors"] / summary["n_samples"])
    assert 0 <= summary["exact_match"] <= summary["char_accuracy"] <= 1
    assert result.by_carries["n"].sum() == result.by_digits["n"].sum() == len(test)
    assert set(result.by_carries["carries"]) == set(count_carries(test.a, test.b))
    weighted = (result.by_carries["n"] * result.by_carries["exact_match"]).sum() / len(test)
    assert np.isclose(weighted, summary["exact_match"])
    assert list(result.errors.columns) == [
        "question",
        "expected",
        "predicted",
        "a_digits",
        "b_digits",
        "carries",
        "first_wrong_position",
    ]


def test_error_rows_read_like_a_person_writes(tiny_model, tiny_split):
    result = evaluate(model_file.load(tiny_model), question_set.load(tiny_split["test"]))
    assert len(result.errors), "a two-epoch tiny model should still make mistakes"
    for row in result.errors.itertuples():
        a, b = row.question.split("+")
        assert int(a) + int(b) == int(row.expected)
        assert row.expected != row.predicted
        assert (len(a), len(b)) == (row.a_digits, row.b_digits)
        assert 0 <= row.first_wrong_position <= 2
