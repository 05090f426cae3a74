"""The product-columns architecture (`model.arch: columns`): the lattice it reads, the
digits it writes, what it learns on a tiny run, and the stages and predict around it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml

from arith_seq2seq.data.longer_sets import question_ids, question_set
from arith_seq2seq.data.question_format import QuestionFormat
from arith_seq2seq.model import ModelSpec, build
from arith_seq2seq.model.columns import CARRY_CLASSES, SHORTER_OPERAND_AT_MOST
from arith_seq2seq.pipeline.errors import ConfigError
from arith_seq2seq.pipeline.params import ColumnsNet

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def columns_model(digits: int = 3, reverse: bool = True, **net) -> torch.nn.Module:
    cfg = {"hidden_size": 16, "layers": 2, "pair_dim": 4, **net}
    return build(ModelSpec(ColumnsNet(arch="columns", **cfg), QuestionFormat("mul", digits, reverse)))


def lattice_sums(x: str, y: str) -> list[int]:
    """Column k of the schoolbook lattice: the sum of digit products a_i * b_j, i + j = k
    (digits least significant first)."""
    a, b = [int(c) for c in reversed(x)], [int(c) for c in reversed(y)]
    sums = [0] * (len(a) + len(b))
    for i, da in enumerate(a):
        for j, db in enumerate(b):
            sums[i + j] += da * db
    return sums


@pytest.mark.parametrize("reverse", [True, False])
def test_column_k_sums_the_pairs_whose_places_add_up_to_k_and_no_padding(reverse):
    digits = 6
    model = columns_model(digits, reverse, pair_dim=2)
    with torch.no_grad():
        # Dimension 0 holds a pair's product, dimension 1 counts pairs: the column inputs
        # are then the lattice's sums and how many pairs each column has.
        model.pair.weight[:, 0] = torch.tensor([a * b for a in range(10) for b in range(10)], dtype=torch.float)
        model.pair.weight[:, 1] = 1.0
    rng = np.random.default_rng(0)
    a = ["7", "0", "305", "999999", "100200", "42"] + [str(v) for v in rng.integers(0, 10**digits, 20)]
    b = ["8", "123", "0", "999999", "7", "900801"] + [str(v) for v in rng.integers(0, 10**digits, 20)]
    fmt = QuestionFormat("mul", digits, reverse)
    x, y, x_len, y_len = model.operands(torch.as_tensor(question_ids(a, b, fmt)).long())
    inputs = model.column_inputs(x, y, x_len, y_len)
    for row, (p, q) in enumerate(zip(a, b)):
        expected = lattice_sums(p, q)
        found = inputs[row, :, 0].tolist()
        assert found[: len(expected)] == expected and not any(found[len(expected) :]), (p, q)
        # Leading zeros of the shorter operand make no pairs: the column's pair count is
        # that of the operands' own digits.
        pairs = [sum(1 for i in range(len(p)) if 0 <= k - i < len(q)) for k in range(len(p) + len(q))]
        assert inputs[row, : len(pairs), 1].tolist() == pairs


def test_answer_digits_least_significant_first_round_trip_to_products_of_any_length():
    model = columns_model(100)
    rng = np.random.default_rng(1)
    a = ["9" * 100, "1" + "0" * 99, "5"] + ["".join(map(str, rng.integers(1, 10, n))) for n in (1, 7, 40, 100)]
    b = ["9", "1" + "0" * 99, "0"] + ["".join(map(str, rng.integers(1, 10, n))) for n in (100, 3, 1, 60)]
    qs = question_set(a, b, QuestionFormat("mul", 100, True))
    answer = torch.as_tensor(qs.answer).long()
    digits, negative = model.targets(answer, 200)
    assert not negative.any()
    for row, (x, y) in enumerate(zip(a, b)):
        product = int(x) * int(y)
        assert int("".join(map(str, digits[row].tolist()[::-1]))) == product
    assert torch.equal(model.characters_of(digits, negative, answer.shape[1]), answer)


def schoolbook_carries(x: str, y: str) -> list[int]:
    """The carry into each column of x * y, and out of the last one."""
    carry, out = 0, []
    for total in lattice_sums(x, y):
        out.append(carry)
        carry = (total + carry) // 10
    return out + [carry]


def test_the_carries_trained_on_are_schoolbook_multiplications():
    digits = 7
    model = columns_model(digits)
    rng = np.random.default_rng(3)
    a = ["9999999", "5", "0", "1234567"] + [str(v) for v in rng.integers(0, 10**digits, 30)]
    b = ["9999999", "9", "77", "7654321"] + [str(v) for v in rng.integers(0, 10**digits, 30)]
    x, y, x_len, y_len = model.operands(torch.as_tensor(question_ids(a, b, QuestionFormat("mul", digits, True))).long())
    carries = model.carries(x, y, x_len, y_len, 2 * digits)
    for row, (p, q) in enumerate(zip(a, b)):
        expected = schoolbook_carries(p, q)
        found = carries[row].tolist()
        assert found[: len(expected) - 1] == expected[:-1] and not any(found[len(expected) - 1 :]), (p, q)


def exact_columns(model: torch.nn.Module) -> torch.nn.Module:
    """The model with a column network that is long multiplication itself: a pair's
    embedding is its product, a carry's is its value, and a column writes the digit and
    carry of their sum. What is left to test is everything around that network."""
    with torch.no_grad():
        model.pair.weight.zero_()
        model.pair.weight[:, 0] = torch.tensor([a * b for a in range(10) for b in range(10)], dtype=torch.float)
        model.carry.weight.zero_()
        model.carry.weight[:, 1] = torch.arange(CARRY_CLASSES, dtype=torch.float)

    def step(inputs, carry_in):
        total = (inputs[..., 0] + model.carry(carry_in)[..., 1]).round().long()
        sharp = 50.0  # one-hot logits: probabilities of 1 to within float rounding
        return sharp * F.one_hot(total % 10, 10).float(), sharp * F.one_hot((total // 10).clamp(max=CARRY_CLASSES - 1), CARRY_CLASSES).float()

    model.step = step
    return model


def test_each_column_answered_gets_the_carry_the_column_before_chose_at_any_length():
    model = exact_columns(columns_model(100, pair_dim=2)).eval()
    rng = np.random.default_rng(4)
    # N x 1 products up to 100 digits, and N x M ones whose carries still fit the classes.
    a = ["9" * 100, "1" + "0" * 99, "0", "7"] + ["".join(map(str, rng.integers(1, 10, n))) for n in (100, 57, 7, 6)]
    b = ["9", "5", "123", "8"] + ["".join(map(str, rng.integers(1, 10, n))) for n in (1, 1, 7, 5)]
    fmt = QuestionFormat("mul", 100, True)
    with torch.no_grad():
        ids, confidence = model.predict(torch.as_tensor(question_ids(a, b, fmt)).long(), fmt.answer_width)
    assert [t.strip() for t in fmt.vocab.decode(ids.numpy())] == [str(int(x) * int(y)) for x, y in zip(a, b)]
    torch.testing.assert_close(confidence, torch.ones(len(a)))
    # Trained on the true carries, the same network has (almost) no loss: each column's
    # digit and carry out are the targets it is scored against.
    qs = question_set(a, b, fmt)
    loss, pred = model.loss(torch.as_tensor(qs.question).long(), torch.as_tensor(qs.answer).long())
    assert loss.item() < 1e-6 and torch.equal(pred, torch.as_tensor(qs.answer).long())


def test_columns_learns_mul_only_and_aligned_refuses_mul_with_one_line_each():
    with pytest.raises(ConfigError, match=r"model.arch is columns, which learns mul, not add \(data.operation\)"):
        build(ModelSpec(ColumnsNet("columns", 8, 1, 4), QuestionFormat("add", 3, True)))


def test_one_model_answers_a_question_of_any_length_with_the_products_width():
    model = columns_model(3).eval()
    wide = QuestionFormat("mul", 60, True)
    question = torch.as_tensor(question_ids(["1" * 60, "12"], ["7", "3"], wide)).long()
    with torch.no_grad():
        ids, confidence = model.predict(question, wide.answer_width)
    assert ids.shape == (2, 120)
    # An untrained model's confidence in 120 digits underflows to 0, never past 1.
    assert ((confidence >= 0) & (confidence <= 1)).all()
    # Every answer is a number (digits, then padding).
    for text in wide.vocab.decode(ids.numpy()):
        assert text.strip().isdigit() and text.rstrip() == text.strip()


def train_tiny_products(steps: int, seed: int = 0):
    """A columns model trained on every product of operands below 100: the whole 2-digit
    space, 10,000 questions (a plain loop: the stages are tested below)."""
    torch.manual_seed(seed)
    fmt = QuestionFormat("mul", 2, True)
    a, b = np.divmod(np.arange(10_000), 100)
    qs = question_set([str(v) for v in a], [str(v) for v in b], fmt)
    question, answer = torch.as_tensor(qs.question).long(), torch.as_tensor(qs.answer).long()
    model = columns_model(2, hidden_size=64, pair_dim=16)
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
    return model.eval(), qs


# A run's rounding differs from CPU to CPU, and other seeds stand in for that: over seeds
# 0 (the test's) to 4 of train_tiny_products(1500), each natively and with oneDNN and MKL
# limited to AVX2 (bench/test-thresholds.json, `python bench/test_thresholds.py --only
# columns_products`), 99.33-99.95% of the 2-digit space, every N x 1 product right. The
# floors sit below the worst with margin; the 3-digit pipeline model's figures are in
# docs/multiplication.md.
PRODUCTS_STEPS = 1500
PRODUCTS_AT_LEAST = {"space": 0.98, "times1_5": 0.97, "times1_30": 0.97, "times1_100": 0.97}


def products_scores(model: torch.nn.Module, qs) -> dict[str, float]:
    """Exact match of `model`'s products, written like Python's integers: on the 2-digit
    space `qs`, and on 200 N x 1 products of 5, 30 and 100 digits each (never seen)."""
    with torch.no_grad():
        ids, _ = model.predict(torch.as_tensor(qs.question).long(), qs.answer.shape[1])
    texts = [t.strip() for t in qs.format.vocab.decode(ids.numpy())]
    scores = {"space": float(np.mean([t == str(int(x) * int(y)) for t, x, y in zip(texts, qs.a, qs.b)]))}
    rng = np.random.default_rng(2)
    for n in (5, 30, 100):
        a = ["".join(map(str, [rng.integers(1, 10)] + list(rng.integers(0, 10, n - 1)))) for _ in range(200)]
        b = [str(v) for v in rng.integers(0, 10, 200)]
        long = question_set(a, b, QuestionFormat("mul", n, True))
        with torch.no_grad():
            ids, _ = model.predict(torch.as_tensor(long.question).long(), long.answer.shape[1])
        texts = [t.strip() for t in long.format.vocab.decode(ids.numpy())]
        assert all(t.isdigit() for t in texts)
        scores[f"times1_{n}"] = float(np.mean([t == str(int(x) * int(y)) for t, x, y in zip(texts, a, b)]))
    return scores


@pytest.mark.slow
@pytest.mark.trains
def test_a_tiny_run_answers_products_like_python_integers_and_n_by_1_at_any_length():
    model, qs = train_tiny_products(steps=PRODUCTS_STEPS)
    scores = products_scores(model, qs)
    print("columns, tiny run:", scores)
    assert all(scores[name] >= floor for name, floor in PRODUCTS_AT_LEAST.items()), scores


# --- what the carry classes cannot say is refused, not answered ---------------------------


def test_the_carries_fit_the_classes_up_to_a_shorter_operand_of_7_digits_and_not_beyond():
    # The worst case of each size: every digit 9. 7 digits against any length carries at
    # most 62; 8 x 8 already carries 71, which the network cannot represent.
    assert SHORTER_OPERAND_AT_MOST == 7
    assert max(schoolbook_carries("9" * 7, "9" * 100)) < CARRY_CLASSES
    assert max(schoolbook_carries("9" * 8, "9" * 8)) >= CARRY_CLASSES
    # Even long multiplication itself, as the network, answers that one wrong.
    model = exact_columns(columns_model(8, pair_dim=2)).eval()
    fmt = QuestionFormat("mul", 8, True)
    with torch.no_grad():
        ids, _ = model.predict(torch.as_tensor(question_ids(["9" * 8], ["9" * 8], fmt)).long(), fmt.answer_width)
    assert fmt.vocab.decode(ids.numpy())[0].strip() != str(99999999 * 99999999)
    assert model.refuses(8, 8) and model.refuses(100, 9)
    assert model.refuses(7, 100) is None and model.refuses(100, 1) is None


def test_predict_refuses_a_product_whose_carries_the_model_cannot_represent(tmp_path, capsys):
    from arith_seq2seq.cli import main
    from arith_seq2seq.model import model_file
    from arith_seq2seq.model.model_file import TrainedModel

    path = tmp_path / "columns.pt"
    model_file.save(path, TrainedModel(model=columns_model(3).eval(), info={}))
    # Before: answered, exit 0 (an exact network: 9999999000000001 for 9999999800000001).
    code = main(["predict", "--model", str(path), "99999999*99999999", "12*34", "1234567*99999999"])
    out, err = capsys.readouterr()
    assert code == 1
    assert len(out.splitlines()) == 2  # the other two are answered
    assert err.splitlines() == [
        "error: question 1: '99999999*99999999': both operands have more than 7 digits; the columns architecture "
        "answers products whose shorter operand has at most 7 (longer ones can carry more into a column than its "
        "64 carry classes)"
    ]


def test_evaluate_scores_no_held_out_set_the_model_refuses():
    from arith_seq2seq.evaluation.scoring import NOT_APPLICABLE, longer_exact_match
    from arith_seq2seq.model.model_file import TrainedModel

    trained = TrainedModel(model=exact_columns(columns_model(3, pair_dim=2)).eval(), info={})
    for digits, scored in ((10, NOT_APPLICABLE), (7, 1.0)):
        fmt = QuestionFormat("mul", digits, True)
        qs = question_set(["9" * digits, "1" * digits], ["9" * digits, "3" * digits], fmt)
        assert longer_exact_match(trained, qs) == scored, digits


def test_columns_refuses_training_data_whose_carries_it_cannot_represent():
    from .conftest import REFERENCE, TINY_PARAMS
    from arith_seq2seq.pipeline.params import params_from_dict

    raw = {section: {**REFERENCE[section], **TINY_PARAMS.get(section, {})} for section in REFERENCE}
    raw["model"]["arch"], raw["data"]["operation"], raw["data"]["digits"] = "columns", "mul", 8
    raw["data"]["longer_digits"] = []
    with pytest.raises(ConfigError, match=r"^data.digits is 8, but model.arch columns answers products whose shorter "
                                          r"operand has at most 7 digits"):
        params_from_dict(raw)
    raw["data"]["digits"] = 7
    params_from_dict(raw)
