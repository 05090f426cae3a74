"""model.arch aligned: its column parsing, the column arithmetic it learns, answers of any
width, small trained models (a step table with no wrong step answers every length), the
longer sets, and `arith-seq2seq predict` on questions longer than training's.

Expected answers are Python's `str(a + b)` and `str(a - b)`, and the questions and answers
are written into character ids and read back by this file from the vocabulary's
characters alone: a mistake in the project's encoders cannot hide a wrong answer."""

from __future__ import annotations

import operator
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from arith_seq2seq.data import question_set
from arith_seq2seq.data.longer_sets import generate_longer, question_ids
from arith_seq2seq.data.longer_sets import question_set as asked
from arith_seq2seq.data.operations import operation_named
from arith_seq2seq.data.question_format import QuestionFormat
from arith_seq2seq.data.questions import question_and_answer_ids
from arith_seq2seq.evaluation.scoring import NOT_APPLICABLE, evaluate_longer
from arith_seq2seq.model import ModelSpec, answering, build, check_learns, model_file
from arith_seq2seq.model.aligned import AlignedColumns, column, column_steps
from arith_seq2seq.pipeline.errors import ConfigError

from .conftest import TINY_PARAMS, config, train_tiny
from .test_cli import run

ALIGNED = {"arch": "aligned", "hidden_size": 16, "layers": 1, "pair_dim": 8}
ALIGNED_TRAIN = {"lr": 0.03, "precision": "32-true", "max_epochs": 12, "batch_size": 64}
PYTHON = {"add": operator.add, "sub": operator.sub}
PAD = " "


def aligned(operation: str, digits: int = 3, reverse: bool = True) -> AlignedColumns:
    torch.manual_seed(0)
    model = build(
        ModelSpec(
            config("model", **ALIGNED), QuestionFormat(operation_named(operation), digits, reverse)
        )
    )
    assert isinstance(model, AlignedColumns) and model.signed == (operation == "sub")
    return model.eval()


# --- questions and answers, written and read here -------------------------------------


def ids_of(
    texts: list[str], width: int, fmt: QuestionFormat, reverse: bool = False
) -> torch.Tensor:
    """Character ids of `texts` in `fmt`'s vocabulary, right-padded to `width` (each row
    reversed with `reverse`, as reversed questions are written)."""
    chars = fmt.vocab.chars
    ids = np.full((len(texts), width), chars.index(PAD), dtype=np.int64)
    for row, text in enumerate(texts):
        ids[row, : len(text)] = [chars.index(c) for c in text]
    return torch.from_numpy(ids[:, ::-1].copy() if reverse else ids)


def questions(a: list[int], b: list[int], fmt: QuestionFormat) -> torch.Tensor:
    texts = [f"{x}{fmt.symbol}{y}" for x, y in zip(a, b)]
    return ids_of(texts, fmt.question_width, fmt, reverse=fmt.reverse)


def expected(a: list[int], b: list[int], operation: str) -> list[str]:
    return [str(PYTHON[operation](x, y)) for x, y in zip(a, b)]


def answers(a: list[int], b: list[int], fmt: QuestionFormat) -> torch.Tensor:
    return ids_of(expected(a, b, fmt.operation.name), fmt.answer_width, fmt)


def texts_of(ids: torch.Tensor, fmt: QuestionFormat) -> list[str]:
    chars = fmt.vocab.chars
    return ["".join(chars[i] for i in row).rstrip(PAD) for row in ids.tolist()]


def number(rng: np.random.Generator, digits: int) -> int:
    """A number of exactly `digits` digits (0 to 9 for one)."""
    if digits == 1:
        return int(rng.integers(0, 10))
    return int(str(rng.integers(1, 10)) + "".join(map(str, rng.integers(0, 10, digits - 1))))


def edge_pairs(digits: int) -> tuple[list[int], list[int]]:
    """Every ordered pair of 0, 1, 9...9, 10...0, 10...01: equal operands, a carry or a
    borrow through every column, a sign decided by the last or the first column."""
    edges = sorted({0, 1, 10**digits - 1, 10 ** (digits - 1), 10 ** (digits - 1) + 1})
    return [x for x in edges for _ in edges], [y for _ in edges for y in edges]


def mixed_pairs(digits: int, count: int, seed: int) -> tuple[list[int], list[int]]:
    """Random operands of 1 to `digits` digits, and the edge pairs."""
    rng = np.random.default_rng(seed)
    a = [number(rng, int(rng.integers(1, digits + 1))) for _ in range(count)]
    b = [number(rng, int(rng.integers(1, digits + 1))) for _ in range(count)]
    edge_a, edge_b = edge_pairs(digits)
    return a + edge_a, b + edge_b


def long_pairs(digits: int, count: int, seed: int) -> tuple[list[int], list[int]]:
    """Operands of exactly `digits` digits, and the edge pairs."""
    rng = np.random.default_rng(seed)
    edge_a, edge_b = edge_pairs(digits)
    return [number(rng, digits) for _ in range(count)] + edge_a, [
        number(rng, digits) for _ in range(count)
    ] + edge_b


def exact_match(model: AlignedColumns, a: list[int], b: list[int], digits: int) -> float:
    fmt = model.spec.questions.with_digits(digits)
    with torch.no_grad():
        ids, _ = model.predict(questions(a, b, fmt), fmt.answer_width)
    return float(
        np.mean(
            [
                got == want
                for got, want in zip(texts_of(ids, fmt), expected(a, b, fmt.operation.name))
            ]
        )
    )


def number_of(columns: torch.Tensor) -> list[int]:
    """Integers from digits least significant first."""
    return [sum(int(d) * 10**i for i, d in enumerate(row)) for row in columns.tolist()]


# --- 1. characters <-> columns --------------------------------------------------------


@pytest.mark.parametrize("operation", ["add", "sub"])
@pytest.mark.parametrize("reverse", [True, False])
@pytest.mark.parametrize("digits", [1, 2, 3, 7, 25])
def test_operands_and_targets_round_trip_questions_and_answers(operation, reverse, digits):
    rng = np.random.default_rng([digits, reverse, operation == "sub"])
    fmt = QuestionFormat(operation_named(operation), digits, reverse)
    model = aligned(operation, digits, reverse)
    a, b = (list(map(str, x)) for x in mixed_pairs(digits, 60, seed=int(rng.integers(1000))))
    if digits <= fmt.max_digits:
        # The data files' encoder and the longer sets' (and predict's) write the same ids.
        question, answer = question_and_answer_ids(
            np.array(a, dtype=np.int64), np.array(b, dtype=np.int64), fmt
        )
        assert np.array_equal(question, question_ids(a, b, fmt))
    else:
        qs = asked(a, b, fmt)
        question, answer = qs.question, qs.answer
    question, answer = torch.from_numpy(question).long(), torch.from_numpy(answer).long()

    col_a, col_b, a_len, b_len = model.operands(question)
    assert col_a.shape == col_b.shape == (len(a), digits + 1)
    assert a_len.tolist() == [len(x) for x in a] and b_len.tolist() == [len(y) for y in b]
    # One spare column for the final carry, always 0 in the operands.
    assert (col_a[:, -1] == 0).all() and (col_b[:, -1] == 0).all()
    assert number_of(col_a) == [int(x) for x in a]
    assert number_of(col_b) == [int(y) for y in b]

    want = [PYTHON[operation](int(x), int(y)) for x, y in zip(a, b)]
    digits_of_answer, negative = model.targets(answer, col_a.shape[1])
    assert number_of(digits_of_answer) == [abs(v) for v in want]
    assert negative.tolist() == [v < 0 for v in want]
    # Written back: exactly the answer ids the data hold, sign and padding included.
    assert torch.equal(model.characters_of(digits_of_answer, negative, answer.shape[1]), answer)


# --- 2. the column arithmetic ---------------------------------------------------------


@pytest.mark.parametrize("operation", ["add", "sub"])
@pytest.mark.parametrize("places", [1, 2, 4, 30])
def test_column_steps_write_sums_and_differences_as_python_does(operation, places):
    # A sum's digits; a difference's digits modulo 10**places with the last borrow set
    # exactly where a < b. Every column's carry is the one the column before wrote.
    rng = np.random.default_rng(places)
    pairs = [
        (
            number(rng, int(rng.integers(1, places + 1))),
            number(rng, int(rng.integers(1, places + 1))),
        )
        for _ in range(200)
    ]
    pairs += list(zip(*edge_pairs(places)))

    def digits(values):
        return torch.tensor([[v // 10**i % 10 for i in range(places + 1)] for v in values])

    a, b = digits([x for x, _ in pairs]), digits([y for _, y in pairs])
    steps = column_steps(a, b, signed=operation == "sub")
    modulus = 10 ** (places + 1)
    assert number_of(steps["digit"]) == [PYTHON[operation](x, y) % modulus for x, y in pairs]
    if operation == "sub":
        assert steps["next_c"][:, -1].tolist() == [int(x < y) for x, y in pairs]
    else:
        assert (steps["next_c"][:, -1] == 0).all()  # the spare column takes the last carry
    assert torch.equal(steps["c"][:, 1:], steps["next_c"][:, :-1]) and (steps["c"][:, 0] == 0).all()


class TableStep(torch.nn.Module):
    """A stand-in step network, sure of the outputs of `column` on every input, except
    those listed in `wrong` ((a, b, carry) -> digit it writes instead)."""

    def __init__(self, signed: bool, wrong: dict | None = None):
        super().__init__()
        self.signed, self.wrong = signed, wrong or {}

    def forward(self, a, b, carry):
        digit, next_carry = column(a, b, carry, self.signed)
        for (x, y, c), instead in self.wrong.items():
            digit = torch.where((a == x) & (b == y) & (carry == c), instead, digit)
        sure = lambda v, n: torch.where(F.one_hot(v, n).bool(), 30.0, -30.0)  # noqa: E731
        return sure(digit, 10), sure(next_carry, 2)


@pytest.mark.parametrize("operation", ["add", "sub"])
@pytest.mark.parametrize("digits", [3, 100, 1000])
def test_a_step_right_on_all_200_inputs_answers_every_length_right(operation, digits):
    model = aligned(operation)
    model.step = TableStep(model.signed)
    assert model.wrong_steps() == 0
    a, b = (
        mixed_pairs(digits, 100, seed=digits)
        if digits == 3
        else long_pairs(digits, 100, seed=digits)
    )
    fmt = model.spec.questions.with_digits(digits)
    with torch.no_grad():
        ids, confidence = model.predict(questions(a, b, fmt), fmt.answer_width)
    assert texts_of(ids, fmt) == expected(a, b, operation)
    assert torch.allclose(confidence, torch.ones(len(a)))


def takes(step: tuple[int, int, int], a: int, b: int, operation: str, places: int = 4) -> bool:
    """Whether the pass whose digits answer a + b (a - b) meets `step` (a, b, carry in) in
    one of its columns, done here with Python's integers."""
    if operation == "sub" and a < b:
        a, b = b, a
    carry = 0
    for i in range(places):
        x, y = a // 10**i % 10, b // 10**i % 10
        if (x, y, carry) == step:
            return True
        total = x - y - carry if operation == "sub" else x + y + carry
        carry = int(total < 0) if operation == "sub" else total // 10
    return False


@pytest.mark.parametrize(
    "operation, step", [("add", (9, 9, 1)), ("sub", (0, 0, 1)), ("sub", (3, 7, 0))]
)
def test_one_wrong_step_answers_exactly_the_questions_that_take_it_wrong(operation, step):
    model = aligned(operation)
    model.step = TableStep(model.signed, {step: 5})
    assert model.wrong_steps() == 1
    a, b = mixed_pairs(3, 2000, seed=5)
    fmt = model.spec.questions
    got = texts_of(model.predict(questions(a, b, fmt), fmt.answer_width)[0], fmt)
    right = [g == want for g, want in zip(got, expected(a, b, operation))]
    taking = [takes(step, x, y, operation) for x, y in zip(a, b)]
    assert any(taking) and not all(taking)
    assert right == [not t for t in taking]


@pytest.mark.parametrize("operation", ["add", "sub"])
@pytest.mark.parametrize("training", [False, True])
def test_the_loss_of_exact_steps_is_zero_and_a_wrong_step_marks_its_questions(operation, training):
    model = aligned(operation).train(training)
    a, b = mixed_pairs(3, 300, seed=2)
    fmt = model.spec.questions
    question, answer = questions(a, b, fmt), answers(a, b, fmt)
    model.step = TableStep(model.signed)
    loss, pred = model.loss(question, answer)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert texts_of(pred, fmt) == expected(a, b, operation)
    # A step wrong on one input: exactly the questions that take it are marked wrong, as
    # answering would get them (a difference's step also in the pass over b - a).
    step = (9, 9, 1) if operation == "add" else (0, 0, 1)
    model.step = TableStep(model.signed, {step: 5})
    _, pred = model.loss(question, answer)
    marked = [got != want for got, want in zip(texts_of(pred, fmt), expected(a, b, operation))]
    wrong = [
        got != want
        for got, want in zip(
            texts_of(model.predict(question, fmt.answer_width)[0], fmt), expected(a, b, operation)
        )
    ]
    assert any(wrong) and all(m for m, w in zip(marked, wrong) if w)


@pytest.mark.parametrize("operation", ["add", "sub"])
def test_an_untrained_model_answers_questions_of_any_width(operation):
    model = aligned(operation)
    assert model.reads_longer_input and model.any_length
    a, b = long_pairs(50, 40, seed=3)
    wide = model.spec.questions.with_digits(50)
    ids, confidence = answering.answer_questions(
        model, questions(a, b, wide).numpy(), wide.answer_width
    )
    assert ids.shape == (len(a), wide.answer_width) == (len(a), 51)
    # A probability (a product of 51 columns' may round to 0 in float32).
    assert confidence.shape == (len(a),) and ((confidence >= 0) & (confidence <= 1)).all()
    sign = "-?" if operation == "sub" else ""
    for text in wide.vocab.texts(ids):
        # Left-aligned, space padded, no leading zeros.
        assert re.fullmatch(rf"{sign}(0|[1-9][0-9]*) *", text), text


def test_an_aligned_model_of_multiplication_is_refused():
    # Said as the choice it is: the architecture, the operation, and the ones that answer it.
    with pytest.raises(
        ConfigError,
        match=r"^model\.arch is aligned, which \w+ add and sub\b.*, not mul \(data\.operation\); "
        r"for mul choose .*\brepeat\b.*\bseq2seq\b.*\battention\b.*\bcolumns$",
    ):
        check_learns(config("model", **ALIGNED), "mul")


def test_the_weight_bound_counts_the_network_exactly():
    for values in (ALIGNED, {**ALIGNED, "layers": 3}, config("aligned").__dict__):
        net = config("model", **{**values, "arch": "aligned"})
        model = build(ModelSpec(net, QuestionFormat(operation_named("add"), 3, True)))
        assert net.weights() == sum(p.numel() for p in model.parameters()), values


# --- 3. trained ------------------------------------------------------------------------

# How much training takes every one of the 200 steps right, so that every length is: a
# loop over `AlignedColumns.loss` (the objective the pipeline's Lightning module calls),
# 150 Adam steps of 256 questions with operands of 1 to 3 digits (about 1 s of one core).
# Over seeds 0 (the test's) to 4, each natively and with oneDNN and MKL limited to AVX2
# (bench/test-thresholds.json, `python bench/test_thresholds.py --only aligned_steps`),
# every run took no step wrong, for add and sub. The pipeline's recipe (params.yaml, 1
# epoch of about 310 steps of 1,024) trains twice as many steps on four times the batch.
STEPS, BATCH, LR = 150, 256, 0.01


def train_aligned(operation: str, seed: int = 0) -> AlignedColumns:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = build(
                ModelSpec(config("aligned"), QuestionFormat(operation_named(operation), 3, True))
            ).train()
            rng = np.random.default_rng(seed)
            optimizer = torch.optim.Adam(model.parameters(), lr=LR)
            for _ in range(STEPS):
                a = rng.integers(0, 10 ** rng.integers(1, 4, BATCH)).tolist()
                b = rng.integers(0, 10 ** rng.integers(1, 4, BATCH)).tolist()
                loss, _ = model.loss(
                    questions(a, b, model.spec.questions), answers(a, b, model.spec.questions)
                )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


def trained_scores(model: AlignedColumns) -> dict[str, float]:
    """Wrong steps of 200, and exact match on 1- to 3-digit questions and at 100 and
    1,000 digits (random and the edge pairs)."""
    return {
        "wrong_steps": model.wrong_steps(),
        "digits_3": exact_match(model, *mixed_pairs(3, 2000, seed=11), 3),
        "digits_100": exact_match(model, *long_pairs(100, 200, seed=100), 100),
        "digits_1000": exact_match(model, *long_pairs(1000, 50, seed=1000), 1000),
    }


@pytest.mark.trains
@pytest.mark.parametrize("operation", ["add", "sub"])
def test_a_short_run_takes_every_step_right_and_so_answers_1000_digit_questions(operation):
    scores = trained_scores(train_aligned(operation))
    print(f"aligned {operation}:", scores)
    assert scores == {"wrong_steps": 0, "digits_3": 1.0, "digits_100": 1.0, "digits_1000": 1.0}


@pytest.fixture(scope="module")
def aligned_model(tiny_split, tmp_path_factory):
    return train_tiny(tiny_split, tmp_path_factory.mktemp("aligned"), ALIGNED, ALIGNED_TRAIN)


def write_wider_longer(folder) -> None:
    """Longer sets of 3, 10 and 20 digits for the tiny split's format."""
    data = config(
        "data", **{**TINY_PARAMS["data"], "longer_digits": [3, 10, 20], "longer_count": 200}
    )
    question_set.save_longer(generate_longer(data), folder)


@pytest.fixture(scope="module")
def wider_longer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("longer")
    write_wider_longer(folder)
    return folder


def test_a_trained_aligned_model_is_scored_on_every_longer_set(
    aligned_model, tiny_split, wider_longer, tiny_model
):
    trained = model_file.load(aligned_model)
    assert isinstance(trained.model, AlignedColumns)
    assert 0 <= trained.info["best_val_exact_match"] <= 1
    scores = evaluate_longer(trained, aligned_model, tiny_split["longer"])
    assert sorted(scores) == ["chains_3", "digits_3"]
    wider = evaluate_longer(trained, aligned_model, wider_longer)
    assert sorted(wider) == sorted(
        f"{kind}_{n}" for kind in ("chains", "digits") for n in (3, 10, 20)
    )
    for name, value in {**scores, **wider}.items():
        assert isinstance(value, float) and 0 <= value <= 1, (name, value)
    # Each score is a rescoring of the set's questions at its own answer width.
    for name, value in wider.items():
        qs = question_set.load(wider_longer / f"{name}.npz")
        predicted = answering.answer_questions(trained.model, qs.question, qs.format.answer_width)[
            0
        ]
        assert value == pytest.approx(float((predicted == qs.answer).all(1).mean()), abs=1e-6), name
    # A repeat model cannot read them.
    repeat = model_file.load(tiny_model)
    assert evaluate_longer(repeat, tiny_model, tiny_split["longer"]) == {
        "digits_3": NOT_APPLICABLE,
        "chains_3": NOT_APPLICABLE,
    }


# `fit` (the pipeline's training) on the tiny split's 2-digit sums, 12 epochs of 64 (about
# 450 steps, 1 s): over train.seed 7 (the test's), 1, 2, 3, 4, natively and with oneDNN and
# MKL limited to AVX2 (bench/test-thresholds.json, `python bench/test_thresholds.py --only
# aligned_fit`), every run took no step wrong and answered every question of 3, 10 and 20
# digits right. 4 epochs left 16 steps wrong (seed 7).
FIT_AT_LEAST = {"val": 1.0, "digits_20": 1.0, "chains_20": 1.0}


def fit_scores(
    split: dict, longer, folder, seed: int = TINY_PARAMS["train"]["seed"]
) -> dict[str, float]:
    """Validation exact match, wrong steps and the longer sets' scores of an aligned model
    trained by `fit` on `split` (the test below; bench/test_thresholds.py)."""
    path = train_tiny(split, folder, ALIGNED, {**ALIGNED_TRAIN, "seed": seed})
    trained = model_file.load(path)
    return {
        "val": trained.info["best_val_exact_match"],
        "wrong_steps": trained.model.wrong_steps(),
        **evaluate_longer(trained, path, longer),
    }


@pytest.mark.trains
def test_fit_trains_2_digit_sums_that_carry_to_20_digits(tiny_split, wider_longer, tmp_path):
    scores = fit_scores(tiny_split, wider_longer, tmp_path)
    print("aligned, fit:", scores)
    assert scores["wrong_steps"] == 0
    assert all(scores[name] >= floor for name, floor in FIT_AT_LEAST.items()), scores


def test_predict_answers_long_questions_without_allow_longer(
    capsys, monkeypatch, aligned_model, tiny_model
):
    huge = "1" * 60 + "+1"
    code, out, err = run(capsys, monkeypatch, "--model", aligned_model, huge)
    assert (code, err) == (0, [])
    assert len(out) == 1 and re.fullmatch(r"[0-9]+", out[0]), out
    # What the model answers for those ids, read at 60 digits.
    trained = model_file.load(aligned_model)
    wide = trained.format.with_digits(60)
    ids = answering.answer_questions(
        trained.model, question_ids(["1" * 60], ["1"], wide), wide.answer_width
    )[0]
    assert out == [wide.vocab.texts(ids)[0].strip()]
    # Long and short questions together, from stdin: one answer each.
    code, out, err = run(
        capsys,
        monkeypatch,
        "--model",
        aligned_model,
        "--confidence",
        stdin=f"{huge}\n12+34\n{'9' * 200}+1\n",
    )
    assert (code, err) == (0, []) and len(out) == 3
    for line in out:
        text, confidence = line.split("\t")
        assert re.fullmatch(r"[0-9]+", text) and 0 <= float(confidence) <= 1
    # The repeat model refuses, and names the architectures that would take it.
    code, out, err = run(capsys, monkeypatch, "--model", tiny_model, huge)
    assert (code, out) == (1, []) and len(err) == 1
    assert err[0].endswith("(model.arch aligned can)"), err


def test_two_runs_with_the_same_params_write_the_same_model_file(tiny_split, tmp_path):
    train = {**ALIGNED_TRAIN, "max_epochs": 1}
    folders = [tmp_path / "first", tmp_path / "second"]
    for folder in folders:
        folder.mkdir()
    first, second = (train_tiny(tiny_split, folder, ALIGNED, train) for folder in folders)
    assert first.read_bytes() == second.read_bytes()
