"""The whole question space: enumerated or sampled, scored like predict, summarised, drawn."""

import numpy as np
import pandas as pd
import pytest

from arith_seq2seq.data import question_set
from arith_seq2seq.data.operations import operation_named
from arith_seq2seq.data.questions import num_digits, question_and_answer_ids, stratum_size
from arith_seq2seq.evaluation.scoring import evaluate
from arith_seq2seq.evaluation.space import (
    SPLITS,
    SpaceScore,
    error_cases,
    score_space,
    space_metrics,
    space_operands,
    strata_table,
)
from arith_seq2seq.evaluation.space_map import SHADES, WRONG, draw_space
from arith_seq2seq.model import answering, model_file

ADD = operation_named("add")


@pytest.fixture(scope="module")
def sets(tiny_split):
    return {name: question_set.load(tiny_split[name]) for name in ("train", "val", "test")}


@pytest.fixture(scope="module")
def scored(tiny_model, sets):
    trained = model_file.load(tiny_model)
    return trained, score_space(trained, sets, limit=1_000_000, seed=0, batch_size=700)


def test_small_spaces_are_enumerated_a_down_b_across():
    a, b = space_operands(ADD, 2, 10_000, seed=0)
    assert len(a) == 10_000
    np.testing.assert_array_equal(a[:3], [0, 0, 0])
    np.testing.assert_array_equal(b[:3], [0, 1, 2])
    assert (a[-1], b[-1]) == (99, 99)


def test_large_spaces_are_sampled_an_equal_share_per_stratum():
    a, b = space_operands(ADD, 4, 16_000, seed=3)
    assert len(a) == 16_000
    assert len(set(zip(a.tolist(), b.tolist()))) == 16_000  # distinct
    la, lb = num_digits(a), num_digits(b)
    counts = pd.Series(list(zip(la.tolist(), lb.tolist()))).value_counts()
    assert counts[(1, 1)] == 100  # a stratum smaller than its share is scored whole
    assert counts[(4, 4)] == counts[(3, 4)]  # the rest share equally
    np.testing.assert_array_equal(np.lexsort((b, a)), np.arange(len(a)))  # sorted
    again = space_operands(ADD, 4, 16_000, seed=3)
    np.testing.assert_array_equal(again[0], a)


def test_scoring_the_space_answers_as_predict_does(scored, tiny_model):
    trained, score = scored
    a, b = space_operands(ADD, 2, 10_000, seed=0)
    question, expected = question_and_answer_ids(a, b, trained.format)
    plain, _ = answering.answer_questions(trained.model, question, expected.shape[1])
    np.testing.assert_array_equal(score.predicted, plain)
    np.testing.assert_array_equal(score.right, (plain == expected).all(1))
    assert not score.sampled and score.size == 10_000


def test_every_question_knows_its_split(scored, sets):
    _, score = scored
    where = {
        (x, y): SPLITS.index(name)
        for name in ("train", "val", "test")
        for x, y in zip(sets[name].a.tolist(), sets[name].b.tolist())
    }
    expected = [where.get((x, y), 0) for x, y in zip(score.a.tolist(), score.b.tolist())]
    np.testing.assert_array_equal(score.split, expected)


def test_space_metrics_add_up(scored, sets):
    _, score = scored
    metrics = space_metrics(score)
    table = strata_table(score)
    assert metrics["questions"] == metrics["scored"] == 10_000
    assert metrics["errors"] == table["errors"].sum() == (~score.right).sum()
    assert metrics["exact_match"] == pytest.approx(1 - metrics["errors"] / 10_000, abs=1e-7)
    trained_on = len(sets["train"]) + len(sets["val"])
    assert metrics["unseen"]["scored"] == 10_000 - trained_on
    assert metrics["unseen"]["exact_match"] == pytest.approx(
        1 - metrics["unseen"]["errors"] / metrics["unseen"]["scored"], abs=1e-7
    )
    assert list(metrics["by_digits"]) == ["1+1", "1+2", "2+1", "2+2"]
    assert list(table["questions"]) == [100, 900, 900, 8100]
    worst = min(metrics["by_digits"], key=lambda d: (metrics["by_digits"][d], d))
    assert metrics["worst"] == {"digits": worst, "exact_match": metrics["by_digits"][worst]}


def test_a_sampled_space_weighs_each_stratum_by_its_size():
    # Strata 1+1 (100 questions) all wrong, 2+2 (8,100) all right, half of 1+2 and 2+1
    # wrong. Sampled 50 a stratum, the plain share of right answers would be 1/2; over
    # the space it is (0 * 100 + 450 + 450 + 8100) / 10,000.
    a, b = [], []
    rng = np.random.default_rng(0)
    for la, lb in ((1, 1), (1, 2), (2, 1), (2, 2)):
        lo_a, lo_b = (0, 10)[la - 1], (0, 10)[lb - 1]
        a.append(rng.integers(lo_a, 10**la, 50))
        b.append(rng.integers(lo_b, 10**lb, 50))
    a, b = np.concatenate(a), np.concatenate(b)
    right = np.concatenate(
        [np.zeros(50, bool), np.arange(50) % 2 == 0, np.arange(50) % 2 == 0, np.ones(50, bool)]
    )
    score = SpaceScore(2, a, b, None, None, right, np.zeros(200, np.int8), ADD)
    assert score.sampled
    metrics = space_metrics(score)
    assert metrics["exact_match"] == pytest.approx((450 + 450 + 8100) / 10_000)
    assert metrics["worst"]["digits"] == "1+1" and metrics["errors"] == 100
    assert strata_table(score)["questions"].tolist() == [
        stratum_size(1, 1),
        stratum_size(1, 2),
        stratum_size(2, 1),
        stratum_size(2, 2),
    ]


def test_error_cases_cover_the_space_worst_stratum_first(scored, sets):
    trained, score = scored
    test_eval = evaluate(trained, sets["test"])
    errors = error_cases(score, trained.format, sets["test"], test_eval.errors, test_eval.wrong)
    assert len(errors) == (~score.right).sum()
    assert list(errors.columns) == [
        "question",
        "expected",
        "predicted",
        "a_digits",
        "b_digits",
        "carries",
        "first_wrong_position",
        "split",
    ]
    by_digits = space_metrics(score)["by_digits"]
    rates = [by_digits[f"{x}+{y}"] for x, y in zip(errors["a_digits"], errors["b_digits"])]
    assert rates == sorted(rates)
    for row in errors.itertuples():
        a, b = map(int, row.question.split("+"))
        assert a + b == int(row.expected) != int(row.predicted)
    # Every test-split error is there, marked as such.
    test_rows = set(errors.loc[errors["split"] == "test", "question"])
    assert test_rows == set(test_eval.errors["question"])


def test_error_cases_of_a_sampled_space_add_the_test_errors_it_left_out(scored, sets):
    trained, full = scored
    keep = np.flatnonzero(full.split != SPLITS.index("test"))[:3000]
    score = SpaceScore(
        2,
        full.a[keep],
        full.b[keep],
        full.predicted[keep],
        full.expected[keep],
        full.right[keep],
        full.split[keep],
        full.operation,
    )
    test_eval = evaluate(trained, sets["test"])
    errors = error_cases(score, trained.format, sets["test"], test_eval.errors, test_eval.wrong)
    assert len(errors) == (~score.right).sum() + len(test_eval.errors)
    assert set(errors.loc[errors["split"] == "test", "question"]) == set(
        test_eval.errors["question"]
    )


def test_the_map_has_one_pixel_per_question_and_marks_each_error(scored):
    trained, score = scored
    image = np.asarray(draw_space(score, "+"))
    # 100 x 100 questions, each a 5 x 5 block (small spaces are enlarged to 500 pixels).
    red = (image == WRONG).all(-1)
    assert red.sum() == 25 * (~score.right).sum()
    shaded = (image[..., None, :] == SHADES).all(-1).any(-1)
    assert red.sum() + shaded.sum() == 500 * 500


def test_the_map_of_a_sampled_space_is_banded_by_digit_count():
    a, b = space_operands(ADD, 5, 5_000, seed=1)
    right = np.ones(len(a), bool)
    right[:7] = False
    image = np.asarray(
        draw_space(SpaceScore(5, a, b, None, None, right, np.zeros(len(a), np.int8), ADD), "*")
    )
    assert (image == WRONG).all(-1).sum() > 7  # seven pixels and their circles
    assert image.shape[0] > 1000
    # Five equal bands a side, one per operand digit count: 25 shaded blocks.
    right[:] = True
    clean = np.asarray(
        draw_space(SpaceScore(5, a, b, None, None, right, np.zeros(len(a), np.int8), ADD), "*")
    )
    assert not (clean == WRONG).all(-1).any()
    row = clean[500, 60:1060]
    changes = np.flatnonzero((row[1:] != row[:-1]).any(-1))
    assert len(changes) == 4  # shade flips at each of the 4 band edges


def test_a_few_wrong_answers_are_circled_too():
    a, b = space_operands(ADD, 3, 1_000_000, seed=0)
    right = np.ones(len(a), bool)
    right[[5 * 1000 + 7, 600 * 1000 + 900]] = False  # 5+7 and 600+900
    image = np.asarray(
        draw_space(SpaceScore(3, a, b, None, None, right, np.zeros(len(a), np.int8), ADD), "+")
    )
    red = np.argwhere((image == WRONG).all(-1))
    # The two pixels themselves (60 is the margin), and a ring around each.
    assert {(60 + 5, 60 + 7), (60 + 600, 60 + 900)} <= set(map(tuple, red.tolist()))
    assert len(red) > 2 * 20
    assert all(min(abs(r - 65) + abs(c - 67), abs(r - 660) + abs(c - 960)) <= 20 for r, c in red)
