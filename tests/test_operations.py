"""The Operation records (data/operations.py): each one's facts hold for its arithmetic,
so that the rest of the code can ask the record instead of the operation's name."""

from __future__ import annotations

import numpy as np
import pytest

from arith_seq2seq.data.operations import INT64_DIGITS, OPERATIONS, operation_named
from arith_seq2seq.data.question_format import QuestionFormat, vocab_for

NAMES = list(OPERATIONS)


def operands(op, digits: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random operand pairs of up to `digits` digits and the extremes (0 and the largest),
    those `op`'s domain allows."""
    rng = np.random.default_rng(seed)
    top = 10**digits
    a, b = rng.integers(0, top, n, dtype=np.int64), rng.integers(0, top, n, dtype=np.int64)
    a = np.concatenate([a, [0, top - 1, top - 1, 0]])
    b = np.concatenate([b, [top - 1, top - 1, 0, 0]])
    allowed = op.allows(a, b)
    return a[allowed], b[allowed]


@pytest.mark.parametrize("name", NAMES)
def test_int64_arithmetic_is_exact_up_to_max_digits_and_equals_pythons(name):
    op = operation_named(name)
    a, b = operands(op, op.max_digits, 2000)
    expected = [op.exact(int(x), int(y)) for x, y in zip(a, b)]
    assert op.array(a, b).tolist() == expected
    # Python's integers at any length; int64 would overflow one digit further for products.
    assert (
        op.exact(10**40 + 7, 3)
        == {"add": 10**40 + 10, "sub": 10**40 + 4, "mul": 3 * 10**40 + 21}[name]
    )
    assert max(abs(v) for v in expected) < 2**63


@pytest.mark.parametrize("name", NAMES)
def test_the_answer_width_holds_the_longest_answer_and_no_more(name):
    op = operation_named(name)
    for digits in (1, 2, 3, 7):
        a, b = operands(op, digits, 3000, seed=digits)
        widths = [len(str(op.exact(int(x), int(y)))) for x, y in zip(a, b)]
        assert (
            max(widths)
            == op.answer_width(digits)
            == QuestionFormat(operation_named(name), digits, True).answer_width
        )


@pytest.mark.parametrize("name", NAMES)
def test_commutative_and_signed_say_what_the_arithmetic_does(name):
    op = operation_named(name)
    a, b = operands(op, 3, 3000, seed=1)
    swapped_equal = all(op.exact(int(x), int(y)) == op.exact(int(y), int(x)) for x, y in zip(a, b))
    assert swapped_equal == op.commutative
    assert any(op.exact(int(x), int(y)) < 0 for x, y in zip(a, b)) == op.signed
    # The vocabulary has a minus sign exactly when answers can be negative (sub's symbol is one).
    assert ("-" in vocab_for(op).chars) == (op.signed or op.symbol == "-")
    assert op.symbol in vocab_for(op).chars


@pytest.mark.parametrize("name", NAMES)
def test_carry_chains_have_the_longer_operand_of_n_digits(name):
    op = operation_named(name)
    for n in (1, 4, 30):
        chains = op.chains(n)
        assert chains and all(max(len(x), len(y)) == n for x, y in chains)
        assert all(x == str(int(x)) and y == str(int(y)) for x, y in chains)  # no leading zeros


def test_product_digits_are_half_of_int64s():
    assert operation_named("mul").max_digits == INT64_DIGITS // 2
    assert operation_named("add").max_digits == operation_named("sub").max_digits == INT64_DIGITS
