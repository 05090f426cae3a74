"""`predict --allow-longer` answers operands up to the digits whose answers int64 holds
exactly (INT64_DIGITS for + and -, half of it for *, as data.digits allows) and
refuses longer ones with a clear message."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from arith_seq2seq.cli import main
from arith_seq2seq.data import question_set, splitting
from arith_seq2seq.data.operations import INT64_DIGITS as MAX_DIGITS
from arith_seq2seq.data.operations import OPERATIONS, operation_named
from arith_seq2seq.data.question_format import QuestionFormat
from arith_seq2seq.data.questions import (
    generate_questions,
    question_and_answer_ids,
    readable_questions,
)
from arith_seq2seq.model import answering, model_file

from .conftest import TINY_PARAMS, config, train_tiny

# The longest operands each operation answers exactly.
MOST = {"add": MAX_DIGITS, "sub": MAX_DIGITS, "mul": MAX_DIGITS // 2}
SYMBOLS = {name: op.symbol for name, op in OPERATIONS.items()}


def test_the_limits_are_the_ones_data_digits_allows():
    assert MOST == {"add": 18, "sub": 18, "mul": 9}
    assert MOST == {name: op.max_digits for name, op in OPERATIONS.items()}
    assert SYMBOLS == {"add": "+", "sub": "-", "mul": "*"}
    for operation, most in MOST.items():
        config("data", digits=most, operation=operation, longer_digits=()).validate()
        with pytest.raises(Exception, match=f"exact only up to {most} digits"):
            config("data", digits=most + 1, operation=operation, longer_digits=()).validate()


@pytest.mark.parametrize(
    "operation, a, b",
    [
        ("add", 10**18 - 1, 10**18 - 1),  # the largest sum: 1999999999999999998
        ("sub", 0, 10**18 - 1),  # the most negative difference
        ("sub", 10**18 - 1, 0),
        ("mul", 10**9 - 1, 10**9 - 1),  # the largest product: 999999998000000001
    ],
)
def test_the_longest_questions_encode_their_exact_answers(operation, a, b):
    digits = MOST[operation]
    fmt = QuestionFormat(operation_named(operation), digits, True)
    vocab = fmt.vocab
    question, answer = question_and_answer_ids(np.array([a]), np.array([b]), fmt)
    assert readable_questions(question, fmt) == [f"{a}{SYMBOLS[operation]}{b}"]
    exact = {"add": a + b, "sub": a - b, "mul": a * b}[operation]
    assert [text.strip() for text in vocab.texts(answer)] == [str(exact)]
    assert int(fmt.compute(np.array([a]), np.array([b]))[0]) == exact
    if (operation, a) == ("add", 10**18 - 1):
        assert str(exact) == "1999999999999999998"
    if operation == "mul":
        assert str(exact) == "999999998000000001"


@pytest.fixture(scope="module")
def seq2seq_models(tmp_path_factory) -> dict[str, Path]:
    """One tiny seq2seq model (it reads longer input) per operation, trained for one epoch:
    its answers are not right, but they are answers."""
    models = {}
    for operation in MOST:
        folder = tmp_path_factory.mktemp(operation)
        data = {**TINY_PARAMS["data"], "operation": operation, "count": 600, "longer_digits": []}
        train, val, _ = splitting.split(
            generate_questions(config("data", **data)), config("split", **TINY_PARAMS["split"])
        )
        split = {"train": folder / "train.npz", "val": folder / "val.npz"}
        question_set.save(train, split["train"])
        question_set.save(val, split["val"])
        models[operation] = train_tiny(
            split,
            folder,
            {"arch": "seq2seq", "hidden_size": 16},
            {"max_epochs": 1, "show_samples": 0},
        )
    return models


def run(capsys, *args):
    code = main(["predict", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


@pytest.mark.parametrize("operation", list(MOST))
def test_operands_up_to_the_limit_are_answered_and_longer_ones_refused(
    capsys, monkeypatch, seq2seq_models, operation
):
    most, symbol = MOST[operation], SYMBOLS[operation]
    model = seq2seq_models[operation]
    trained = model_file.load(model)
    assert trained.model.reads_longer_input and trained.format.digits == 2

    # What the model is asked: the question as written, at the full width.
    asked = []
    answer_questions = answering.answer_questions

    def spy(model, question, answer_width=None, *args, **kwargs):
        asked.append((readable_questions(question, trained.format), answer_width))
        return answer_questions(model, question, answer_width, *args, **kwargs)

    monkeypatch.setattr(answering, "answer_questions", spy)

    longest = "9" * most + symbol + "9" * most
    too_long = "1" + "0" * most + symbol + "1"
    code, out, err = run(
        capsys, "--model", model, "--allow-longer", "5" + symbol + "7", longest, too_long
    )
    assert code == 1
    # One line per question asked: its answer, or (what the barely trained model says is
    # beside the point) the message that the answer is not a number.
    not_numbers = [line for line in err if line.endswith("is not a number")]
    assert len(out) + len(not_numbers) == 2, (out, err)
    err = [line for line in err if line not in not_numbers]
    assert len(err) == 1, err
    assert err[0].startswith(f"error: question 3: '{too_long}': operands of {most + 1} digits")
    assert f"exact up to {most} digits" in err[0]
    assert sorted(asked, key=lambda x: x[1]) == [
        (["5" + symbol + "7"], QuestionFormat(operation_named(operation), 2, True).answer_width),
        ([longest], QuestionFormat(operation_named(operation), most, True).answer_width),
    ]

    # Alone, and with the most digits on one side only, as well.
    one_sided = "9" * most + symbol + "1"
    code, out, err = run(capsys, "--model", model, "--allow-longer", one_sided)
    assert (
        (code, err, len(out)) == (0, [], 1)
        or (code, out, len(err)) == (1, [], 1)
        and err[0].endswith("is not a number")
    )
    code, out, err = run(
        capsys, "--model", model, "--allow-longer", "1" + symbol + "9" * (most + 1)
    )
    assert code == 1 and out == [] and len(err) == 1
    assert f"operands of {most + 1} digits" in err[0] and f"exact up to {most} digits" in err[0]
