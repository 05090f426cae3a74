"""Subtraction and multiplication through the real stages (generate, split, train,
evaluate) and `arith-seq2seq predict`, on tiny settings; every figure is checked against a
rescoring done here, with answers computed by Python arithmetic."""

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from arith_seq2seq.cli import main
from arith_seq2seq.data import question_set
from arith_seq2seq.model import answering, model_file

from .conftest import (
    evaluate_args,
    rewrite_npz,
    run_stage_in_process,
    split_args,
    train_command,
    write_params,
)

# `trains`: the tiny models' scores decide some preconditions below (enough errors, some
# right answers, longer scores between bounds); bench/test_thresholds.py reruns these
# trainings over 5 seeds x 2 CPU settings into bench/test-thresholds.json (settings
# ops_sub, ops_mul, ops_columns; pipeline_scores below gives what they bound). Every
# bound holds in all 10 runs of each; the thinnest: mul's right test answers, 1 to 9
# (the bound: more than 0), and sub's negative ones, 6 to 15.
pytestmark = [pytest.mark.slow, pytest.mark.trains]

SYMBOL = {"sub": "-", "mul": "*"}
PYTHON = {"sub": lambda a, b: a - b, "mul": lambda a, b: a * b}
# Every error row, not the first 50: the worst stratum comes first, and for sub it is
# 2+1 (10-3, ...), whose answers are all positive.
EVALUATE = {"max_errors": 100_000}
SETTINGS = {
    # An encoder-decoder, so that the longer sets are scored (and their answers are wider
    # than the model's: 3 digits answer in 4 characters, 4 in 5).
    "sub": {
        "data": {"operation": "sub", "count": 5000, "longer_digits": [3, 4]},
        "model": {"arch": "seq2seq"},
        "seq2seq": {"max_epochs": 3},
        "evaluate": EVALUATE,
    },
    # repeat: a fixed answer length, so the longer set is not applicable.
    "mul": {
        "data": {"operation": "mul", "count": 3000},
        "model": {"arch": "repeat"},
        "repeat": {"max_epochs": 3},
        "evaluate": EVALUATE,
    },
    # The product-columns architecture: reads any length, so every longer set is scored.
    "columns": {
        "data": {"operation": "mul", "count": 3000, "longer_digits": [3, 6]},
        "model": {"arch": "columns"},
        "columns": {"max_epochs": 3, "hidden_size": 32, "pair_dim": 16},
        "evaluate": EVALUATE,
    },
}


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr
    return result


def digits_of(path: Path) -> int:
    return int(re.fullmatch(r"(?:digits|times1|chains)_(\d+)\.npz", path.name).group(1))


def answer_texts(trained, ids: np.ndarray) -> list[str]:
    """Answer ids -> text, done here: each id is its character in the model's vocabulary."""
    return ["".join(trained.format.vocab.chars[i] for i in row).strip() for row in np.asarray(ids)]


def question_ids(trained, a: int, b: int, operation: str) -> np.ndarray:
    """The model's input for a{symbol}b, built by hand: written out, space padded to
    2*digits+1, reversed (the tiny settings reverse questions)."""
    assert trained.format.reverse
    text = f"{a}{SYMBOL[operation]}{b}".ljust(2 * trained.format.digits + 1)[::-1]
    return np.array([[trained.format.vocab.chars.index(c) for c in text]], dtype=np.uint8)


def longer_answer_width(digits: int, operation: str) -> int:
    return digits + 1 if operation == "sub" else 2 * digits


def run_pipeline(name: str, folder: Path, seed: int | None = None) -> dict:
    """SETTINGS[name] through the stages (train.seed `seed`, TINY_PARAMS's by default)."""
    settings = SETTINGS[name] if seed is None else {**SETTINGS[name], "train": {"seed": seed}}
    params = write_params(folder / "params.yaml", settings)
    operation = SETTINGS[name]["data"]["operation"]
    split = {name: folder / f"{name}.npz" for name in ("train", "val", "test")}
    split["longer"] = folder / "longer"
    # Each stage's entry point in this process (conftest's run_stage_in_process), not a new
    # interpreter per stage: the same code, without importing torch and Lightning 4 times.
    ok(
        run_stage_in_process(
            "generate",
            "--params",
            params,
            "--out",
            folder / "questions.npz",
            "--longer-dir",
            split["longer"],
        )
    )
    ok(
        run_stage_in_process(
            "split",
            *split_args(
                params, folder / "questions.npz", split["train"], split["val"], split["test"]
            ),
        )
    )
    ok(run_stage_in_process("train", *train_command(params, split, folder)[2:]))
    model = folder / "model.pt"
    trained = model_file.load(model)
    if trained.model.reads_longer_input:
        # The tiny model gets no longer question right, and 0.0 would equal almost any
        # wrong scoring. Every third answer becomes the model's own (at the set's width):
        # those are right by construction, the rest as the model is.
        for path in sorted(split["longer"].iterdir()):
            qs = question_set.load(path)
            own = answering.answer_questions(
                trained.model, qs.question, longer_answer_width(digits_of(path), operation)
            )[0]
            answer = qs.answer.copy()
            answer[::3] = own[::3]
            rewrite_npz(path, answer=answer)
    out = folder / "evaluate"
    out.mkdir()
    ok(run_stage_in_process("evaluate", *evaluate_args(params, model, split, out)))
    return {
        "operation": operation,
        "split": split,
        "model": model,
        "trained": trained,
        "metrics": json.loads((out / "m.json").read_text()),
        "errors": pd.read_csv(
            out / "e.csv",
            dtype={"question": str, "expected": str, "predicted": str},
            keep_default_na=False,
        ),
    }


# Pairs a - b with negative answers (and 3 - 15 first), asked of the subtraction model.
NEGATIVE_PAIRS = [(3, 15)] + [(a, b) for a in range(0, 100, 3) for b in range(a + 1, 100)]


def pipeline_scores(run: dict) -> dict[str, float]:
    """The figures of a run that the tests below bound: error rows (negative ones for sub),
    right test answers (negative ones for sub), the longer sets' scores, and for sub the
    NEGATIVE_PAIRS answered right (bench/test_thresholds.py)."""
    operation, trained, errors = run["operation"], run["trained"], run["errors"]
    test = question_set.load(run["split"]["test"])
    predicted = answer_texts(
        trained, answering.answer_questions(trained.model, test.question, test.answer.shape[1])[0]
    )
    right = np.array(
        [
            p == str(PYTHON[operation](a, b))
            for p, a, b in zip(predicted, test.a.tolist(), test.b.tolist())
        ]
    )
    scores = {"error_rows": len(errors), "test_right": int(right.sum())}
    longer = [v for v in run["metrics"]["longer"].values() if isinstance(v, float)]
    if longer:
        scores |= {"longer_min": min(longer), "longer_max": max(longer)}
    if operation == "sub":
        scores |= {
            "negative_error_rows": int(errors["expected"].str.startswith("-").sum()),
            "negative_predicted_in_errors": int(errors["predicted"].str.startswith("-").sum()),
            "test_right_negative": int((right & (test.a < test.b)).sum()),
        }
        question = np.concatenate([question_ids(trained, a, b, "sub") for a, b in NEGATIVE_PAIRS])
        answers = answer_texts(trained, answering.answer_questions(trained.model, question, 3)[0])
        scores["negative_pairs_right"] = sum(
            got == str(a - b) for got, (a, b) in zip(answers, NEGATIVE_PAIRS)
        )
    return scores


@pytest.fixture(scope="module")
def sub_run(tmp_path_factory):
    return run_pipeline("sub", tmp_path_factory.mktemp("sub"))


@pytest.fixture(scope="module")
def mul_run(tmp_path_factory):
    return run_pipeline("mul", tmp_path_factory.mktemp("mul"))


@pytest.fixture(scope="module")
def columns_run(tmp_path_factory):
    return run_pipeline("columns", tmp_path_factory.mktemp("columns"))


@pytest.fixture(params=["sub", "mul", "columns"])
def pipeline(request):
    return request.getfixturevalue(f"{request.param}_run")


def test_error_rows_hold_the_questions_their_python_answers_and_no_carries(pipeline):
    operation, errors = pipeline["operation"], pipeline["errors"]
    assert len(errors) > 100
    symbol = re.escape(SYMBOL[operation])
    for row in errors.itertuples():
        a, b = map(int, re.fullmatch(rf"(\d+){symbol}(\d+)", row.question).groups())
        assert row.expected == str(PYTHON[operation](a, b)), row
        assert row.predicted != row.expected, row
        assert (row.a_digits, row.b_digits) == (len(str(a)), len(str(b))), row
    # Carries are counted for addition only.
    assert set(errors["carries"]) == {-1}


def test_subtraction_error_rows_show_negative_answers_with_their_sign(sub_run):
    errors = sub_run["errors"]
    negative = errors[errors["expected"].str.startswith("-")]
    assert len(negative) > 100
    assert all(re.fullmatch(r"-[1-9]\d?", e) for e in negative["expected"])
    assert errors["predicted"].str.startswith("-").any(), "the model writes negative answers too"


def test_evaluate_test_exact_match_equals_a_rescoring_of_the_test_set(pipeline):
    operation, trained = pipeline["operation"], pipeline["trained"]
    test = question_set.load(pipeline["split"]["test"])
    predicted = answer_texts(
        trained, answering.answer_questions(trained.model, test.question, test.answer.shape[1])[0]
    )
    truth = [str(PYTHON[operation](a, b)) for a, b in zip(test.a.tolist(), test.b.tolist())]
    right = np.array([p == t for p, t in zip(predicted, truth)])
    assert right.any(), "precondition: the tiny model gets some test questions right"
    if operation == "sub":
        assert (right & (test.a < test.b)).any(), "precondition: some of them negative"
    summary = pipeline["metrics"]["test"]
    assert summary["n_samples"] == len(test)
    assert summary["n_errors"] == int((~right).sum())
    assert summary["exact_match"] == pytest.approx(right.mean(), abs=1e-9)


def test_longer_scores_of_an_encoder_decoder_equal_a_rescoring_at_each_sets_answer_width(sub_run):
    trained = sub_run["trained"]
    assert trained.model.reads_longer_input
    expected = {}
    for path in sorted(sub_run["split"]["longer"].iterdir()):
        digits = digits_of(path)
        qs = question_set.load(path)
        width = longer_answer_width(digits, "sub")
        assert qs.answer.shape[1] == width > trained.model.answer_width
        predicted = answering.answer_questions(trained.model, qs.question, width)[0]
        expected[path.stem] = float((predicted == qs.answer).all(1).mean())
    assert sorted(expected) == ["chains_3", "chains_4", "digits_3", "digits_4"]
    assert all(0.3 < v < 0.6 for v in expected.values()), expected
    longer = sub_run["metrics"]["longer"]
    assert sorted(longer) == sorted(expected)
    for name, value in expected.items():
        assert longer[name] == pytest.approx(value, abs=1e-6), name


def test_longer_scores_of_the_columns_model_equal_a_rescoring_of_each_set(columns_run):
    trained = columns_run["trained"]
    expected = {}
    for path in sorted(columns_run["split"]["longer"].iterdir()):
        qs = question_set.load(path)
        assert qs.answer.shape[1] == 2 * digits_of(path)
        # Against the set's answers (every third one the model's own, see run_pipeline).
        predicted = answering.answer_questions(trained.model, qs.question, qs.answer.shape[1])[0]
        expected[path.stem] = float((predicted == qs.answer).all(1).mean())
    assert sorted(expected) == [
        "chains_3",
        "chains_6",
        "digits_3",
        "digits_6",
        "times1_3",
        "times1_6",
    ]
    # Every third answer is the model's own (run_pipeline), so each is at least a third.
    assert all(v >= 0.33 for v in expected.values()), expected
    longer = columns_run["metrics"]["longer"]
    assert sorted(longer) == sorted(expected)
    for name, value in expected.items():
        assert longer[name] == pytest.approx(value, abs=1e-6), name


def test_predict_on_a_columns_model_answers_products_of_any_length_and_refuses_sums(
    columns_run, capsys
):
    trained = columns_run["trained"]
    long = "9" * 40
    code, out, err = predict(
        capsys, "--model", columns_run["model"], "12*34", "3+4", f"{long}*7", f"7*{long}"
    )
    assert code == 1
    assert err == ["error: question 2: '3+4': this model answers * questions, not +"]
    # A 40-digit operand with no --allow-longer: the model reads any length.
    assert len(out) == 3 and all(re.fullmatch(r"\d+", line) for line in out), out
    assert (
        out[0]
        == answer_texts(
            trained,
            answering.answer_questions(trained.model, question_ids(trained, 12, 34, "mul"), 4)[0],
        )[0]
    )


def test_longer_scores_of_a_repeat_model_are_not_applicable(mul_run):
    # Multiplication's longer sets include N-digit by 1-digit products (times1_N).
    assert sorted(path.name for path in mul_run["split"]["longer"].iterdir()) == [
        "chains_3.npz",
        "digits_3.npz",
        "times1_3.npz",
    ]
    assert mul_run["metrics"]["longer"] == {
        "digits_3": "not applicable",
        "times1_3": "not applicable",
        "chains_3": "not applicable",
    }


def predict(capsys, *args):
    code = main(["predict", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def test_predict_answers_subtractions_with_the_models_own_negative_answers(sub_run, capsys):
    trained = sub_run["trained"]
    # Questions with negative answers (and 3-15 first).
    pairs = NEGATIVE_PAIRS
    code, out, err = predict(capsys, "--model", sub_run["model"], *(f"{a}-{b}" for a, b in pairs))
    assert (code, err) == (0, [])
    assert len(out) == len(pairs)
    # Each answer is what the model writes for the question, decoded here.
    for (a, b), line in list(zip(pairs, out))[::50]:
        own = answering.answer_questions(trained.model, question_ids(trained, a, b, "sub"), 3)[0]
        assert line == answer_texts(trained, own)[0], (a, b)
    assert out[0].startswith("-")
    right = [line for (a, b), line in zip(pairs, out) if line == str(a - b)]
    assert len(right) > 10, "negative answers read back exactly as Python writes them"


def test_predict_on_a_multiplication_model_answers_products_and_refuses_sums(mul_run, capsys):
    trained = mul_run["trained"]
    code, out, err = predict(capsys, "--model", mul_run["model"], "12*34", "3+4", "7*8")
    assert code == 1
    assert err == ["error: question 2: '3+4': this model answers * questions, not +"]
    expected = [
        answer_texts(
            trained,
            answering.answer_questions(trained.model, question_ids(trained, a, b, "mul"), 4)[0],
        )[0]
        for a, b in [(12, 34), (7, 8)]
    ]
    assert out == expected
    assert all(re.fullmatch(r"\d+", line) for line in out)
