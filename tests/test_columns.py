"""The product-columns architecture (`model.arch: columns`): the long multiplication it
learns, the digits it writes, what it learns on a tiny run, and predict and evaluate
around it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from arith_seq2seq.data.longer_sets import question_ids, question_set
from arith_seq2seq.data.operations import operation_named
from arith_seq2seq.data.question_format import QuestionFormat
from arith_seq2seq.model import ModelSpec, build, check_learns
from arith_seq2seq.model.columns import PLUS_CARRIES, TIMES_CARRIES, ColumnsConfig, schoolbook
from arith_seq2seq.pipeline.errors import ConfigError


def columns_model(digits: int = 3, reverse: bool = True, **net) -> torch.nn.Module:
    cfg = {"hidden_size": 16, "layers": 2, "pair_dim": 4, **net}
    return build(
        ModelSpec(
            ColumnsConfig(arch="columns", **cfg),
            QuestionFormat(operation_named("mul"), digits, reverse),
        )
    )


def digits_of(number: str, places: int) -> list[int]:
    return [int(c) for c in number.zfill(places)[::-1]]


def random_number(rng, digits: int) -> str:
    return "".join(map(str, [rng.integers(1, 10)] + list(rng.integers(0, 10, digits - 1))))


def test_schoolbook_is_long_multiplication_with_every_step_a_digit_or_a_small_carry():
    rng = np.random.default_rng(0)
    pairs = [("9" * 20, "9" * 20), ("1" + "0" * 19, "7"), ("0", "12345"), ("5", "0")]
    pairs += [
        (random_number(rng, n), random_number(rng, m)) for n, m in rng.integers(1, 21, (40, 2))
    ]
    places = 20
    a = torch.tensor([digits_of(x, places) for x, _ in pairs])
    b = torch.tensor([digits_of(y, places) for _, y in pairs])
    book = schoolbook(a, b)
    for row, (x, y) in enumerate(pairs):
        assert int("".join(map(str, book["product"][row].tolist()[::-1]))) == int(x) * int(y), (
            x,
            y,
        )
    # The bounded state: whatever the lengths, a step reads digits and carries of at most
    # 8 (multiplying) and 1 (adding).
    assert book["c"].max() == TIMES_CARRIES - 1 and book["k"].max() == PLUS_CARRIES - 1
    # A row's carry stays below its digit (bench/products.py checks a model on exactly
    # those multiplying steps).
    assert (book["c"] <= (b[:, :, None] - 1).clamp(min=0)).all()
    assert (
        book["q"].max() <= 9 and book["r"].max() <= 9 and min(v.min() for v in book.values()) == 0
    )


def test_answer_digits_least_significant_first_round_trip_to_products_of_any_length():
    model = columns_model(100)
    rng = np.random.default_rng(1)
    a = ["9" * 100, "1" + "0" * 99, "5"] + [
        "".join(map(str, rng.integers(1, 10, n))) for n in (1, 7, 40, 100)
    ]
    b = ["9", "1" + "0" * 99, "0"] + [
        "".join(map(str, rng.integers(1, 10, n))) for n in (100, 3, 1, 60)
    ]
    qs = question_set(a, b, QuestionFormat(operation_named("mul"), 100, True))
    answer = torch.as_tensor(qs.answer).long()
    digits, negative = model.targets(answer, 200)
    assert not negative.any()
    for row, (x, y) in enumerate(zip(a, b)):
        product = int(x) * int(y)
        assert int("".join(map(str, digits[row].tolist()[::-1]))) == product
    assert torch.equal(model.characters_of(digits, negative, answer.shape[1]), answer)


def exact_columns(model: torch.nn.Module) -> torch.nn.Module:
    """The model with step networks that are long multiplication itself. What is left to
    test is everything around them."""
    sharp = 50.0  # one-hot logits: probabilities of 1 to within float rounding

    def times_step(a, b, c):
        s = a * b + c
        return sharp * F.one_hot(s % 10, 10).float(), sharp * F.one_hot(
            s // 10, TIMES_CARRIES
        ).float()

    def plus_step(r, q, k):
        s = r + q + k
        return sharp * F.one_hot(s % 10, 10).float(), sharp * F.one_hot(
            s // 10, PLUS_CARRIES
        ).float()

    model.times_step, model.plus_step = times_step, plus_step
    return model


def test_the_steps_in_order_answer_products_of_any_length_and_are_what_training_scores():
    # Before: a column summed one embedding per digit pair and passed a carry class out of
    # 64, so 99999999*99999999 was 9999999000000001 even with exact networks, then refused.
    model = exact_columns(columns_model(100)).eval()
    rng = np.random.default_rng(4)
    a = ["9" * 100, "99999999", "1" + "0" * 99, "0", "7", "9" * 10]
    b = ["9" * 100, "99999999", "5", "123", "8", "9" * 3]
    a += [random_number(rng, n) for n in (100, 57, 10, 4, 1)]
    b += [random_number(rng, m) for m in (100, 1, 10, 100, 30)]
    fmt = QuestionFormat(operation_named("mul"), 100, True)
    with torch.no_grad():
        ids, confidence = model.predict(
            torch.as_tensor(question_ids(a, b, fmt)).long(), fmt.answer_width
        )
    assert [t.strip() for t in fmt.vocab.texts(ids.numpy())] == [
        str(int(x) * int(y)) for x, y in zip(a, b)
    ]
    torch.testing.assert_close(confidence, torch.ones(len(a)))
    assert model.refuses(1000, 1000) is None
    # Fed the true steps, the same networks have (almost) no loss, and training scores
    # the answer they write as right.
    qs = question_set(a, b, fmt)
    loss, pred = model.loss(torch.as_tensor(qs.question).long(), torch.as_tensor(qs.answer).long())
    assert loss.item() < 1e-6 and torch.equal(pred, torch.as_tensor(qs.answer).long())


@pytest.mark.parametrize(
    "hidden_size, layers, pair_dim", [(16, 2, 4), (64, 2, 16), (300, 1, 7), (8, 5, 33)]
)
def test_the_weight_bound_counts_the_network_that_is_built(hidden_size, layers, pair_dim):
    # Before: an estimate about half the real count, which let networks past the bound.
    cfg = ColumnsConfig("columns", hidden_size, layers, pair_dim)
    model = build(ModelSpec(cfg, QuestionFormat(operation_named("mul"), 3, True)))
    assert cfg.weights() == sum(p.numel() for p in model.parameters())


def test_columns_learns_mul_only_and_aligned_refuses_mul_with_one_line_each():
    with pytest.raises(
        ConfigError, match=r"model.arch is columns, which learns mul, not add \(data.operation\)"
    ):
        check_learns(ColumnsConfig("columns", 8, 1, 4), "add")


def test_one_model_answers_a_question_of_any_length_with_the_products_width():
    model = columns_model(3).eval()
    wide = QuestionFormat(operation_named("mul"), 60, True)
    question = torch.as_tensor(question_ids(["1" * 60, "12"], ["7", "3"], wide)).long()
    with torch.no_grad():
        ids, confidence = model.predict(question, wide.answer_width)
    assert ids.shape == (2, 120)
    # An untrained model's confidence in 120 digits underflows to 0, never past 1.
    assert ((confidence >= 0) & (confidence <= 1)).all()
    # Every answer is a number (digits, then padding).
    for text in wide.vocab.texts(ids.numpy()):
        assert text.strip().isdigit() and text.rstrip() == text.strip()


def train_tiny_products(steps: int, seed: int = 0):
    """A columns model trained on 20,000 random products of operands below 1,000 (a plain
    loop: the stages are tested below), and the 2-digit space it is scored on. (Products
    of 2-digit operands alone never show an adding step that reads a 9 and a carry: their
    running totals' top digit is at most 8.)"""
    torch.manual_seed(seed)
    fmt = QuestionFormat(operation_named("mul"), 3, True)
    a, b = np.divmod(np.random.default_rng(seed).choice(1_000_000, 20_000, replace=False), 1000)
    train = question_set([str(v) for v in a], [str(v) for v in b], fmt)
    question, answer = torch.as_tensor(train.question).long(), torch.as_tensor(train.answer).long()
    model = columns_model(3, hidden_size=64, pair_dim=16)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.01, total_steps=steps)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        rows = torch.randint(0, len(question), (256,), generator=g)
        loss, _ = model.loss(question[rows], answer[rows])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    a, b = np.divmod(np.arange(10_000), 100)
    return model.eval(), question_set(
        [str(v) for v in a], [str(v) for v in b], QuestionFormat(operation_named("mul"), 2, True)
    )


# A run's rounding differs from CPU to CPU, and other seeds stand in for that: over seeds
# 0 (the test's) to 4 of train_tiny_products(PRODUCTS_STEPS), each natively and with
# oneDNN and MKL limited to AVX2 (bench/test-thresholds.json, `python
# bench/test_thresholds.py --only columns_products`). The floors sit below the worst with
# margin; the 3-digit pipeline model's figures are in docs/multiplication.md.
PRODUCTS_STEPS = 300
PRODUCTS_AT_LEAST = {
    "space": 0.999,
    "times1_5": 0.99,
    "times1_30": 0.99,
    "times1_100": 0.99,
    "square_3": 0.99,
    "square_5": 0.99,
    "square_10": 0.99,
}


def products_scores(model: torch.nn.Module, qs) -> dict[str, float]:
    """Exact match of `model`'s products, written like Python's integers: on the 2-digit
    space `qs`, on 200 N x 1 products of 5, 30 and 100 digits each, and on 200 N x N
    products of 3, 5 and 10 digits each (never seen)."""
    with torch.no_grad():
        ids, _ = model.predict(torch.as_tensor(qs.question).long(), qs.answer.shape[1])
    texts = [t.strip() for t in qs.format.vocab.texts(ids.numpy())]
    scores = {
        "space": float(np.mean([t == str(int(x) * int(y)) for t, x, y in zip(texts, qs.a, qs.b)]))
    }
    rng = np.random.default_rng(2)
    for name, n, m in (
        ("times1_5", 5, 1),
        ("times1_30", 30, 1),
        ("times1_100", 100, 1),
        ("square_3", 3, 3),
        ("square_5", 5, 5),
        ("square_10", 10, 10),
    ):
        a = [random_number(rng, n) for _ in range(200)]
        b = [random_number(rng, m) for _ in range(200)]
        long = question_set(a, b, QuestionFormat(operation_named("mul"), n, True))
        with torch.no_grad():
            ids, _ = model.predict(torch.as_tensor(long.question).long(), long.answer.shape[1])
        texts = [t.strip() for t in long.format.vocab.texts(ids.numpy())]
        assert all(t.isdigit() for t in texts)
        scores[name] = float(np.mean([t == str(int(x) * int(y)) for t, x, y in zip(texts, a, b)]))
    return scores


@pytest.mark.slow
@pytest.mark.trains
def test_a_tiny_run_on_3_digit_products_answers_products_of_up_to_100_digits_like_python_integers():
    model, qs = train_tiny_products(steps=PRODUCTS_STEPS)
    scores = products_scores(model, qs)
    print("columns, tiny run:", scores)
    assert all(scores[name] >= floor for name, floor in PRODUCTS_AT_LEAST.items()), scores


# --- no product is out of reach, none refused ---------------------------------------------


def test_predict_and_evaluate_answer_products_of_any_size(tmp_path, capsys):
    from arith_seq2seq.cli import main
    from arith_seq2seq.evaluation.scoring import longer_exact_match
    from arith_seq2seq.model import model_file
    from arith_seq2seq.model.model_file import TrainedModel

    # Before: refused, exit 1 (more than 7 digits in both operands); evaluate scored such
    # a held-out set "not applicable".
    trained = TrainedModel(model=exact_columns(columns_model(3)).eval(), info={})
    fmt = QuestionFormat(operation_named("mul"), 10, True)
    qs = question_set(["9" * 10, "1" * 10], ["9" * 10, "3" * 10], fmt)
    assert longer_exact_match(trained, qs) == 1.0
    path = tmp_path / "columns.pt"
    model_file.save(path, TrainedModel(model=columns_model(3).eval(), info={}))
    code = main(["predict", "--model", str(path), "99999999*99999999", "12*34"])
    out, err = capsys.readouterr()
    assert (code, len(out.splitlines()), err) == (0, 2, "")


def test_columns_takes_training_data_of_any_operand_length():
    from arith_seq2seq.params import params_from_dict

    from .conftest import REFERENCE, TINY_PARAMS

    raw = {section: {**REFERENCE[section], **TINY_PARAMS.get(section, {})} for section in REFERENCE}
    raw["model"]["arch"], raw["data"]["operation"], raw["data"]["digits"] = "columns", "mul", 8
    raw["data"]["longer_digits"] = []
    assert params_from_dict(raw).data.digits == 8
