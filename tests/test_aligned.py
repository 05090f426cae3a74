"""model.arch aligned: its column parsing, answers of any width, training on the tiny
split, the longer sets and `arith-seq2seq predict` on questions longer than training's."""

import re

import numpy as np
import pytest
import torch

from arith_seq2seq.data import question_set
from arith_seq2seq.data.longer_sets import question_ids, generate_longer, question_set as asked
from arith_seq2seq.data.question_format import QuestionFormat
from arith_seq2seq.data.questions import question_and_answer_ids
from arith_seq2seq.evaluation.scoring import NOT_APPLICABLE, evaluate_longer
from arith_seq2seq.model import ModelSpec, answering, build, model_file
from arith_seq2seq.model.aligned import AlignedRNN, tens_complement
from arith_seq2seq.pipeline.errors import ConfigError

from .conftest import TINY_PARAMS, config, train_tiny
from .test_aligned_sub import edge_pairs, exact_match_by_sign, mixed_pairs, number, train_aligned
from .test_cli import run

ALIGNED = {"arch": "aligned", "cell": "gru", "hidden_size": 8}
# Tuned for speed (about a second on one free core), not accuracy: 3 epochs reach about
# 0.1 exact match on the 2-digit validation set and next to none on longer numbers (the
# slow test below trains 60).
ALIGNED_TRAIN = {"lr": 0.03, "precision": "32-true", "max_epochs": 3, "batch_size": 64}
PYTHON = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b}


def aligned(operation: str, digits: int, reverse: bool = True, cell: str = "gru") -> AlignedRNN:
    torch.manual_seed(0)
    model = build(ModelSpec(config("model", **{**ALIGNED, "cell": cell}), QuestionFormat(operation, digits, reverse)))
    assert isinstance(model, AlignedRNN)
    return model.eval()


def random_number(rng: np.random.Generator, length: int) -> str:
    """A decimal string of exactly `length` digits (0 among the 1-digit ones)."""
    if length == 1:
        return str(rng.integers(0, 10))
    return str(rng.integers(1, 10)) + "".join(map(str, rng.integers(0, 10, length - 1)))


def operand_pairs(digits: int, rng: np.random.Generator, count: int = 60) -> tuple[list[str], list[str]]:
    """Operands of every length from 1 to `digits` (0 and the largest included)."""
    a = [random_number(rng, int(rng.integers(1, digits + 1))) for _ in range(count)]
    b = [random_number(rng, int(rng.integers(1, digits + 1))) for _ in range(count)]
    extremes = ["0", "9" * digits, "1", "1" + "0" * (digits - 1)]
    a += [x for x in extremes for _ in extremes]
    b += [y for _ in extremes for y in extremes]
    return a, b


def number_of(columns: torch.Tensor) -> list[int]:
    """Integers from digits least significant first."""
    return [sum(int(d) * 10**i for i, d in enumerate(row)) for row in columns.tolist()]


# --- 1. characters <-> columns --------------------------------------------------------


@pytest.mark.parametrize("operation", ["add", "sub"])
@pytest.mark.parametrize("reverse", [True, False])
@pytest.mark.parametrize("digits", [1, 2, 3, 7, 25])
def test_operands_and_targets_round_trip_questions_and_answers(operation, reverse, digits):
    rng = np.random.default_rng([digits, reverse, operation == "sub"])
    fmt = QuestionFormat(operation, digits, reverse)
    model = aligned(operation, digits, reverse)
    a, b = operand_pairs(digits, rng)
    if digits <= fmt.max_digits:
        # The data files' encoder and the longer sets' (and predict's) write the same ids.
        question, answer = question_and_answer_ids(np.array(a, dtype=np.int64), np.array(b, dtype=np.int64), fmt)
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

    expected = [PYTHON[operation](int(x), int(y)) for x, y in zip(a, b)]
    digits_of_answer, negative = model.targets(answer, col_a.shape[1])
    assert number_of(digits_of_answer) == [abs(v) for v in expected]
    assert negative.tolist() == [v < 0 for v in expected]
    if operation == "sub":
        assert negative.any() and not negative.all()
    # Written back: exactly the answer ids the data hold, sign and padding included.
    assert torch.equal(model.characters_of(digits_of_answer, negative, answer.shape[1]), answer)
    # Padding columns (leading zeros, as training adds them) change nothing either.
    padded, padded_negative = model.targets(answer, col_a.shape[1] + 5)
    assert (padded[:, -5:] == 0).all() and torch.equal(padded_negative, negative)
    assert torch.equal(model.characters_of(padded, padded_negative, answer.shape[1]), answer)


@pytest.mark.parametrize("columns", [1, 2, 5, 30])
def test_tens_complement_is_ten_to_the_columns_minus_x(columns):
    rng = np.random.default_rng(columns)
    values = {0, 1, 10**columns - 1, 10 ** (columns - 1)} | {
        int("".join(map(str, rng.integers(0, 10, columns)))) for _ in range(50)
    }
    values = sorted(values)
    digits = torch.tensor([[(x // 10**i) % 10 for i in range(columns)] for x in values])
    assert number_of(tens_complement(digits)) == [(10**columns - x) % 10**columns for x in values]


# --- 2. answers of any width ----------------------------------------------------------


@pytest.mark.parametrize("operation", ["add", "sub"])
@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_an_untrained_model_answers_questions_of_any_width(operation, cell):
    model = aligned(operation, 3, cell=cell)
    assert model.reads_longer_input and model.any_length
    rng = np.random.default_rng(3)
    a, b = operand_pairs(50, rng, count=40)
    wide = model.spec.questions.with_digits(50)
    question = question_ids(a, b, wide)
    ids, confidence = answering.answer_questions(model, question, wide.answer_width)
    assert ids.shape == (len(a), wide.answer_width) == (len(a), 51)
    # A probability (a product of 51 columns' may round to 0 in float32).
    assert confidence.shape == (len(a),) and ((confidence >= 0) & (confidence <= 1)).all()
    sign = "-?" if operation == "sub" else ""
    for text in wide.vocab.decode(ids):
        # Left-aligned, space padded, no leading zeros.
        assert re.fullmatch(rf"{sign}(0|[1-9][0-9]*) *", text), text


def six_sub_steps(seed: int = 0) -> list[float]:
    """The losses of six Adam steps of an untrained aligned sub model on 64 questions;
    the loss falls over 5 seeds x 2 CPU settings (bench/test-thresholds.json)."""
    model = aligned("sub", 3).train()
    torch.manual_seed(seed)  # the training's random leading-zero columns
    rng = np.random.default_rng(seed)
    a, b = operand_pairs(3, rng, count=48)
    qs = asked(a, b, model.spec.questions)
    question, answer = torch.from_numpy(qs.question).long(), torch.from_numpy(qs.answer).long()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(6):
        loss, pred = model.loss(question, answer)
        assert pred.shape == answer.shape and torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.trains
def test_sub_training_step_predicts_answers_of_the_answer_shape():
    losses = six_sub_steps()
    assert losses[-1] < losses[0]


# --- 5. refused operations ------------------------------------------------------------


def test_an_aligned_model_of_multiplication_is_refused():
    # Said as the choice it is: the architecture, the operation, and the ones that answer it.
    with pytest.raises(ConfigError, match=r"^model\.arch is aligned, which \w+ add and sub\b.*, not mul \(data\.operation\); "
                                          r"for mul choose .*\brepeat\b.*\bseq2seq\b.*\battention\b.*\bcolumns$"):
        build(ModelSpec(config("model", **ALIGNED), QuestionFormat("mul", 3, True)))


# --- 3, 4. trained on the tiny split --------------------------------------------------


@pytest.fixture(scope="module")
def aligned_model(tiny_split, tmp_path_factory):
    return train_tiny(tiny_split, tmp_path_factory.mktemp("aligned"), ALIGNED, ALIGNED_TRAIN)


def write_wider_longer(folder) -> None:
    """Longer sets of 3, 10 and 20 digits for the tiny split's format."""
    data = config("data", **{**TINY_PARAMS["data"], "longer_digits": [3, 10, 20], "longer_count": 200})
    question_set.save_longer(generate_longer(data), folder)


@pytest.fixture(scope="module")
def wider_longer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("longer")
    write_wider_longer(folder)
    return folder


def test_a_trained_aligned_model_is_scored_on_every_longer_set(aligned_model, tiny_split, wider_longer, tiny_model):
    trained = model_file.load(aligned_model)
    assert isinstance(trained.model, AlignedRNN)
    assert 0 <= trained.info["best_val_exact_match"] <= 1
    scores = evaluate_longer(trained, aligned_model, tiny_split["longer"])
    assert sorted(scores) == ["chains_3", "digits_3"]
    wider = evaluate_longer(trained, aligned_model, wider_longer)
    assert sorted(wider) == sorted(f"{kind}_{n}" for kind in ("chains", "digits") for n in (3, 10, 20))
    print("aligned model: val", trained.info["best_val_exact_match"], "longer", scores, wider)
    for name, value in {**scores, **wider}.items():
        assert isinstance(value, float) and 0 <= value <= 1, (name, value)
    # Each score is a rescoring of the set's questions at its own answer width.
    for name, value in wider.items():
        qs = question_set.load(wider_longer / f"{name}.npz")
        predicted = answering.answer_questions(trained.model, qs.question, qs.format.answer_width)[0]
        assert value == pytest.approx(float((predicted == qs.answer).all(1).mean()), abs=1e-6), name
    # A repeat model cannot read them.
    repeat = model_file.load(tiny_model)
    assert evaluate_longer(repeat, tiny_model, tiny_split["longer"]) == {
        "digits_3": NOT_APPLICABLE, "chains_3": NOT_APPLICABLE,
    }


# The longer run below through `fit`: 60 epochs (about 2,300 steps) on the tiny split's
# 2-digit questions. A run's rounding differs from CPU to CPU, and other seeds stand in for
# that: over train.seed 7 (the test's), 1, 2, 3, 4, each natively and with oneDNN and MKL
# limited to AVX2 (bench/test-thresholds.json, `python bench/test_thresholds.py --only
# aligned_longer_run`), validation 0.9967-1, digits_3 0.855-0.97, digits_10 0.48-0.82,
# digits_20 0.155-0.675 (seed 7: 1, 0.965, 0.74, 0.53), the two CPU settings alike. How well `fit`'s short run carries
# to long numbers varies that much from run to run; the floors below the worst say that it
# learns the 2-digit questions and carries well above chance (about 0 at 20 digits). The
# length claims themselves are checked by `trained_add` below and tests/test_aligned_sub.py,
# runs stable from seed to seed (gradient clipping).
LONGER_RUN_SEED = TINY_PARAMS["train"]["seed"]
LONGER_RUN_AT_LEAST = {"val": 0.98, "digits_3": 0.8, "digits_10": 0.4, "digits_20": 0.1}


def longer_run(split: dict, longer, folder, seed: int = LONGER_RUN_SEED) -> dict[str, float]:
    """Validation exact match and the longer sets' scores of an aligned model trained by
    `fit` for 60 epochs on `split` (the test below; bench/test_thresholds.py)."""
    train = {**ALIGNED_TRAIN, "max_epochs": 60, "patience": 60, "seed": seed}
    path = train_tiny(split, folder, ALIGNED, train)
    trained = model_file.load(path)
    return {"val": trained.info["best_val_exact_match"], **evaluate_longer(trained, path, longer)}


@pytest.mark.slow
@pytest.mark.trains
def test_a_longer_run_learns_2_digit_addition_and_carries_it_to_longer_numbers(tiny_split, wider_longer, tmp_path):
    # The validation set is answered (almost) perfectly, the longer sets well above chance
    # but not perfectly. The length claims of README.md (after 3-digit training, at 100
    # digits: addition 99.5-100%, subtraction 96.75-99.95%) are checked, as near as a short
    # run reaches them, below and in tests/test_aligned_sub.py.
    scores = longer_run(tiny_split, wider_longer, tmp_path)
    print("aligned model, 60 epochs, longer:", scores)
    assert all(scores[name] >= floor for name, floor in LONGER_RUN_AT_LEAST.items()), scores


@pytest.fixture(scope="module")
def trained_add() -> AlignedRNN:
    """Addition, trained by tests/test_aligned_sub.py's loop: 1,000 steps of 128 questions of
    1- to 3-digit operands, gru 12, the gradient clipped (6-7 s of one core)."""
    return train_aligned("add")


# README.md and docs/length-generalisation.md: the pipeline's addition runs (gru 12, 8
# epochs of 400,000 questions, about 5,000 steps of 512) answer 99.95-100% at 20 digits,
# 99.85-100% at 50, 99.5-100% at 100, every chain right. The 1,000 steps of 128 of
# `trained_add` reach less: over seeds 0 (the test's) to 4, each natively and with oneDNN
# and MKL limited to AVX2 (bench/test-thresholds.json, `python bench/test_thresholds.py
# --only aligned_add`), 99.87-100% of the 1- to 3-digit sums, 95.2-100% at 20 digits,
# 93.8-98.3% at 50, 87.7-98.2% at 100, every chain right in every run. The floors sit
# below the worst with margin.
ADD_AT_LEAST = {3: 0.99, 20: 0.9, 50: 0.85, 100: 0.8}


def add_scores(model: AlignedRNN, digits: int) -> dict[str, float]:
    """Exact match of `model`'s sums of `digits`-digit operands (3: operands of 1 to 3
    digits, 3,000 and the edge pairs; else 600 of exactly `digits`), and the least of the
    chains' (every sum of 0, 1, 9...9, 10...0, 10...01, 99...9 + 1 included)."""
    if digits == 3:
        a, b = mixed_pairs(3, 3000, seed=11)
    else:
        rng = np.random.default_rng(digits)
        a = [number(rng, digits) for _ in range(600)]
        b = [number(rng, digits) for _ in range(600)]
    got = exact_match_by_sign(model, a, b, digits)
    chains = exact_match_by_sign(model, *edge_pairs(digits), digits)
    return {"sums": got["positive"], "chains": min(chains.values())}


@pytest.mark.slow
@pytest.mark.trains
@pytest.mark.parametrize("digits, at_least", ADD_AT_LEAST.items())
def test_a_short_run_adds_3_digit_training_to_100_digit_numbers(trained_add, digits, at_least):
    got = add_scores(trained_add, digits)
    print(f"aligned add, {digits} digits:", got)
    assert got["sums"] >= at_least and got["chains"] == 1.0, got


def test_predict_answers_long_questions_without_allow_longer(capsys, monkeypatch, aligned_model, tiny_model):
    huge = "1" * 60 + "+1"
    code, out, err = run(capsys, monkeypatch, "--model", aligned_model, huge)
    assert (code, err) == (0, [])
    assert len(out) == 1 and re.fullmatch(r"[0-9]+", out[0]), out
    # What the model answers for those ids, read at 60 digits.
    trained = model_file.load(aligned_model)
    wide = trained.format.with_digits(60)
    ids = answering.answer_questions(trained.model, question_ids(["1" * 60], ["1"], wide), wide.answer_width)[0]
    assert out == [wide.vocab.decode(ids)[0].strip()]
    # Long and short questions together, from stdin: one answer each.
    code, out, err = run(capsys, monkeypatch, "--model", aligned_model, "--confidence", stdin=f"{huge}\n12+34\n{'9' * 200}+1\n")
    assert (code, err) == (0, []) and len(out) == 3
    for line in out:
        text, confidence = line.split("\t")
        assert re.fullmatch(r"[0-9]+", text) and 0 <= float(confidence) <= 1
    # The repeat model refuses, and names the architecture that would take it.
    code, out, err = run(capsys, monkeypatch, "--model", tiny_model, huge)
    assert (code, out) == (1, []) and len(err) == 1
    assert err[0].endswith("(model.arch aligned can)"), err


# --- 6. determinism -------------------------------------------------------------------


def test_two_runs_with_the_same_params_write_the_same_model_file(tiny_split, tmp_path):
    train = {**ALIGNED_TRAIN, "max_epochs": 1}
    folders = [tmp_path / "first", tmp_path / "second"]
    for folder in folders:
        folder.mkdir()
    first, second = (train_tiny(tiny_split, folder, ALIGNED, train) for folder in folders)
    assert first.read_bytes() == second.read_bytes()
