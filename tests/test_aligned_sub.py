"""model.arch aligned on subtraction: the sign's choice (`_negative`), the choice of pass
(`_pick`) and each pass's training target (`loss`), each checked on its own without
training; then a small model trained once for this module, scored on questions with
negative answers, positive answers and long operands.

Every expected answer here is Python's `str(a - b)` (`str(a + b)` for the addition model
tests/test_aligned.py trains with this module's loop), and the questions and answers are
written into character ids and read back by this file from the vocabulary's characters
alone: a mistake in the project's encoders or answer code cannot hide a wrong answer of
the model's."""

from __future__ import annotations

import operator

import numpy as np
import pytest
import torch

from arith_seq2seq.data.question_format import QuestionFormat
from arith_seq2seq.model import ModelSpec, build
from arith_seq2seq.model.aligned import AlignedRNN

from .conftest import config

FMT = QuestionFormat("sub", 3, True)
PAD = " "
PYTHON = {"add": operator.add, "sub": operator.sub}


# --- questions and answers, written and read here -------------------------------------


def ids_of(texts: list[str], width: int, fmt: QuestionFormat, reverse: bool = False) -> torch.Tensor:
    """Character ids of `texts` in `fmt`'s vocabulary, right-padded to `width` (each row
    reversed with `reverse`, as reversed questions are written)."""
    chars = fmt.vocab.chars
    ids = np.full((len(texts), width), chars.index(PAD), dtype=np.int64)
    for row, text in enumerate(texts):
        ids[row, : len(text)] = [chars.index(c) for c in text]
    return torch.from_numpy(ids[:, ::-1].copy() if reverse else ids)


def questions(a: list[int], b: list[int], digits: int, fmt: QuestionFormat = FMT) -> torch.Tensor:
    texts = [f"{x}{fmt.symbol}{y}" for x, y in zip(a, b)]
    return ids_of(texts, 2 * digits + 1, fmt, reverse=fmt.reverse)


def expected(a: list[int], b: list[int], operation: str = "sub") -> list[str]:
    return [str(PYTHON[operation](x, y)) for x, y in zip(a, b)]


def answers(a: list[int], b: list[int], digits: int, fmt: QuestionFormat = FMT) -> torch.Tensor:
    return ids_of(expected(a, b, fmt.operation), digits + 1, fmt)


def texts_of(ids: torch.Tensor, fmt: QuestionFormat = FMT) -> list[str]:
    chars = fmt.vocab.chars
    return ["".join(chars[i] for i in row).rstrip(PAD) for row in ids.tolist()]


def untrained(hidden_size: int = 8, digits: int = 3, operation: str = "sub") -> AlignedRNN:
    params = config("model", arch="aligned", cell="gru", hidden_size=hidden_size)
    model = build(ModelSpec(params, QuestionFormat(operation, digits, FMT.reverse)))
    assert isinstance(model, AlignedRNN) and model.signed == (operation == "sub")
    return model


def number(rng: np.random.Generator, digits: int) -> int:
    """A number of exactly `digits` digits (0 to 9 for one)."""
    if digits == 1:
        return int(rng.integers(0, 10))
    return int(str(rng.integers(1, 10)) + "".join(map(str, rng.integers(0, 10, digits - 1))))


def numbers(rng: np.random.Generator, lengths: np.ndarray) -> list[int]:
    """Numbers of exactly the given lengths (up to 18 digits; 0 to 9 for one)."""
    return rng.integers(np.where(lengths == 1, 0, 10 ** (lengths - 1)), 10**lengths).tolist()


def edge_pairs(digits: int) -> tuple[list[int], list[int]]:
    """Every ordered pair of 0, 1, 9...9, 10...0, 10...01 (equal operands, a borrow through
    every column, the sign decided by the last or the first column)."""
    edges = sorted({0, 1, 10**digits - 1, 10 ** (digits - 1), 10 ** (digits - 1) + 1})
    return [x for x in edges for _ in edges], [y for _ in edges for y in edges]


# --- the pieces, untrained: a pass that writes exactly the given digits ----------------


def mod_digits(values: list[int], columns: int) -> torch.Tensor:
    """(len(values), columns) digits of each value modulo 10**columns, least significant
    first."""
    return torch.tensor([[(v % 10**columns) // 10**i % 10 for i in range(columns)] for v in values])


def certain(digits: torch.Tensor, classes: int = 10) -> torch.Tensor:
    """Log-probabilities sure of `digits`: 0 for the digit, -30 for every other."""
    return torch.where(torch.nn.functional.one_hot(digits, classes).bool(), 0.0, -30.0)


def exact_passes(a: list[int], b: list[int], exchange: bool = False):
    """A stand-in for `AlignedRNN.log_probs` on the questions (a, b): the pass over (a, b)
    sure of the digits of (a - b) mod 10**columns, the swapped pass sure of those of
    (b - a) mod 10**columns, the sign sure of index 1 ("a < b") exactly when a < b, all
    from Python's integers. With `exchange`, each pass gets the other's digits."""

    def log_probs(col_a: torch.Tensor, col_b: torch.Tensor):
        assert col_a.shape == col_b.shape and col_a.shape[0] == len(a)
        columns = col_a.shape[1]
        own = mod_digits([x - y for x, y in zip(a, b)], columns)
        swapped = mod_digits([y - x for x, y in zip(a, b)], columns)
        if exchange:
            own, swapped = swapped, own
        sign = torch.tensor([int(x < y) for x, y in zip(a, b)])
        return certain(own), certain(swapped), certain(sign, 2)

    return log_probs


def mixed_pairs(digits: int, count: int, seed: int) -> tuple[list[int], list[int]]:
    """Random operands of 1 to `digits` digits, and the edge pairs: negative, positive and
    zero answers."""
    rng = np.random.default_rng(seed)
    a = [number(rng, int(rng.integers(1, digits + 1))) for _ in range(count)]
    b = [number(rng, int(rng.integers(1, digits + 1))) for _ in range(count)]
    edge_a, edge_b = edge_pairs(digits)
    a, b = a + edge_a, b + edge_b
    signs = {(x > y) - (x < y) for x, y in zip(a, b)}
    assert signs == {-1, 0, 1}
    return a, b


def test_negative_is_the_sign_heads_a_less_than_b_class():
    # The sign head's log-probabilities are (a >= b, a < b); `loss` trains index 1 on the
    # negative answers.
    model = untrained()
    sign = torch.tensor([[0.0, -3.0], [-3.0, 0.0], [-0.1, -2.4], [-2.4, -0.1], [-0.6, -0.8]])
    assert model._negative(sign, len(sign)).tolist() == [False, True, False, True, False]
    # Addition has no sign head: never negative.
    params = config("model", arch="aligned", cell="gru", hidden_size=8)
    add = build(ModelSpec(params, QuestionFormat("add", 3, True)))
    assert add._negative(None, 3).tolist() == [False, False, False]


def test_pick_takes_the_swapped_pass_exactly_where_the_answer_is_negative():
    torch.manual_seed(0)
    own, swapped = torch.randn(4, 5, 10), torch.randn(4, 5, 10)
    negative = torch.tensor([True, False, False, True])
    picked = AlignedRNN._pick(own, swapped, negative)
    assert picked.shape == own.shape
    for row, is_negative in enumerate(negative.tolist()):
        assert torch.equal(picked[row], swapped[row] if is_negative else own[row]), row
    # One pass (addition): its digits.
    assert torch.equal(AlignedRNN._pick(own, None, torch.zeros(4, dtype=torch.bool)), own)


@pytest.mark.parametrize("digits", [3, 30])
def test_answers_are_the_digits_of_the_pass_the_sign_picks(digits):
    # With passes that write exactly a - b and b - a modulo 10**columns and a sign that is
    # right, the answer is a - b: the minus sign and |a - b| from the swapped pass where
    # a < b, a - b from the first pass elsewhere.
    a, b = mixed_pairs(digits, 60, seed=digits)
    model = untrained(digits=digits).eval()
    model.log_probs = exact_passes(a, b)
    with torch.no_grad():
        ids, confidence = model.predict(questions(a, b, digits), digits + 1)
    assert texts_of(ids) == expected(a, b)
    assert torch.allclose(confidence, torch.ones(len(a)))


@pytest.mark.parametrize("training", [False, True])
def test_each_pass_is_trained_on_its_own_difference_modulo_ten_to_the_columns(training):
    # `loss` of passes that are exactly right is 0: the pass over (a, b) is trained on
    # (a - b) mod 10**columns, the swapped pass on (b - a) mod 10**columns, the sign on
    # a < b. In training mode `loss` adds leading-zero columns (a negative answer's
    # targets then run through them: 9s); the stand-in reads the columns it is given.
    a, b = mixed_pairs(3, 60, seed=1)
    question, answer = questions(a, b, 3), answers(a, b, 3)
    model = untrained().train(training)
    torch.manual_seed(0)
    for _ in range(3 if training else 1):
        model.log_probs = exact_passes(a, b)
        loss, pred = model.loss(question, answer)
        assert loss.item() == pytest.approx(0.0, abs=1e-6)
        # The answers predicted along the way are the same choice of pass and sign.
        assert texts_of(pred) == expected(a, b)
        # Each pass sure of the other's difference costs 30 a column wherever the two
        # differ (every question but a == b), so the targets cannot be exchanged.
        model.log_probs = exact_passes(a, b, exchange=True)
        exchanged, _ = model.loss(question, answer)
        assert exchanged.item() > 10


# --- trained: a small model, once for this module ---------------------------------------

# A stand-alone loop over `AlignedRNN.loss` (the objective the pipeline's Lightning module
# calls), not `fit`: it clips the gradient norm, which `fit` has no setting for. Without
# clipping, runs this short are unstable from seed to seed (4 of 9 runs of 1,000 steps
# ended below 92% on 3-digit questions; with it every run measured reached 99.6%). Adam
# with one-cycle as in the pipeline; operands of 3 digits most of the time, where the
# borrows are, and some equal operands (1 in 500 random pairs otherwise: without them,
# 4 of 8 seeds of 700 steps answered a tie such as 0-0 wrong). 1,000 steps of 128
# questions, 1/20 of the questions the pipeline's 8 epochs see: 11-13 s of one core for
# subtraction (two passes), 6-7 s for addition.
TRAIN_SEED = 0
HIDDEN = 12
STEPS = 1000
BATCH = 128
LR = 0.05
CLIP = 0.5
OPERAND_DIGITS_P = [0.1, 0.2, 0.7]  # operands of 1, 2, 3 digits
TIES = 0.05  # the share of questions a - a


def train_aligned(
    operation: str = "sub", seed: int = TRAIN_SEED, steps: int = STEPS, hidden_size: int = HIDDEN
) -> AlignedRNN:
    """An aligned model of `operation` trained on operands of 1 to 3 digits by this
    module's loop (tests/test_aligned.py trains its addition model with it too)."""
    fmt = QuestionFormat(operation, 3, FMT.reverse)
    ties = TIES if operation == "sub" else 0.0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            rng = np.random.default_rng(seed)
            model = untrained(hidden_size, operation=operation).train()
            optimizer = torch.optim.Adam(model.parameters(), lr=LR)
            schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LR, total_steps=steps)
            for _ in range(steps):
                a, b = (numbers(rng, rng.choice([1, 2, 3], BATCH, p=OPERAND_DIGITS_P)) for _ in range(2))
                # Equal operands: the sign head's tie, rare among random pairs.
                b = [x if tie else y for x, y, tie in zip(a, b, rng.random(BATCH) < ties)]
                loss, _ = model.loss(questions(a, b, 3, fmt), answers(a, b, 3, fmt))
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
                optimizer.step()
                schedule.step()
    finally:
        torch.set_num_threads(threads)
    return model.eval()


@pytest.fixture(scope="module")
def trained_sub() -> AlignedRNN:
    return train_aligned("sub")


def exact_match_by_sign(model: AlignedRNN, a: list[int], b: list[int], digits: int) -> dict[str, float]:
    """Exact match of the model's answers against Python's a - b (or a + b): over the
    questions whose answer is negative, positive, and zero."""
    fmt = model.spec.questions.with_digits(digits)
    with torch.no_grad():
        ids, _ = model.predict(questions(a, b, digits, fmt), digits + 1)
    right = np.array([got == want for got, want in zip(texts_of(ids, fmt), expected(a, b, fmt.operation))])
    sign = np.sign([PYTHON[fmt.operation](x, y) for x, y in zip(a, b)])
    kinds = {"negative": sign < 0, "positive": sign > 0, "zero": sign == 0}
    return {name: float(right[rows].mean()) for name, rows in kinds.items() if rows.any()}


# A run's rounding differs from CPU to CPU, and other seeds stand in for that: over seeds
# 0 (the test's) to 4 of `train_aligned("sub")`, each natively and with oneDNN and MKL
# limited to AVX2 (bench/test-thresholds.json, `python bench/test_thresholds.py --only
# aligned_sub`), the lower sign's exact match: every 1- to 3-digit question right (ties
# included), 96.95-99.67% at 20 digits, 94.0-99.0% at 50, 88.7-99.65% at 100, every chain
# right in every run (seeds 5 to 9, measured before: 50 digits down to 87%, 100 down to
# 84.9%). The floors sit below all of them with margin. README.md and
# docs/length-generalisation.md report, for the pipeline's runs (gru 12, 8 epochs of the
# 400,000 default questions, about 5,000 steps of 512): 99.45-100% at 20 digits,
# 98.15-100% at 50 and 96.75-100% at 100, every chain right, by seed. This module's 1,000
# steps of 128 leave about 0.1% of columns wrong where the pipeline's runs have 0.03% or
# less: the mechanism carries to any length, a twentieth of the training does not make it
# as exact.
SUB_AT_LEAST = {3: 0.99, 20: 0.9, 50: 0.8, 100: 0.75}


def sub_scores(model: AlignedRNN, digits: int) -> dict[str, float]:
    """Exact match of `model`'s differences by the sign of the answer, and the least of the
    chains'. 3 digits: 3,000 random questions of 1- to 3-digit operands and every pair of 0,
    1, 999, 100, 101 (1,506 negative answers, 1,475 positive, 44 zero); longer: 600 of
    exactly `digits` digits, and the chains (every difference of 0, 1, 9...9, 10...0,
    10...01: 10...0 - 1, 1 - 10...0, 10...01 - 10...0, a borrow through every column, a
    sign decided by the last one)."""
    if digits == 3:
        return exact_match_by_sign(model, *mixed_pairs(3, 3000, seed=11), 3)
    rng = np.random.default_rng(digits)
    a = [number(rng, digits) for _ in range(600)]
    b = [number(rng, digits) for _ in range(600)]
    got = exact_match_by_sign(model, a, b, digits)
    chains = exact_match_by_sign(model, *edge_pairs(digits), digits)
    return {**got, "chains": min(chains.values())}


@pytest.mark.slow
@pytest.mark.trains
def test_a_trained_sub_model_answers_negative_and_positive_short_questions(trained_sub):
    got = sub_scores(trained_sub, 3)
    print("aligned sub, short questions:", got)
    assert got["negative"] >= SUB_AT_LEAST[3] and got["positive"] >= SUB_AT_LEAST[3] and got["zero"] == 1.0, got


@pytest.mark.slow
@pytest.mark.trains
@pytest.mark.parametrize("digits", [20, 50, 100])
def test_a_trained_sub_model_carries_sign_and_borrows_to_long_questions(trained_sub, digits):
    got = sub_scores(trained_sub, digits)
    print(f"aligned sub, {digits} digits:", got)
    at_least = SUB_AT_LEAST[digits]
    assert got["negative"] >= at_least and got["positive"] >= at_least and got["chains"] == 1.0, got
