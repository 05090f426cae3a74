"""The operations a model can learn: everything the project knows about one is in its
`Operation` record here, so adding an operation is one entry in OPERATIONS (and tests).

Every other module holds and asks the record (`op.commutative`, `op.exact(a, b)`,
`op.allows(a, b)`, ...), never the operation's name; a name, where one is read (params,
a data file, the model file), becomes its record once, through `operation_named`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# int64 holds numbers below 10**18 (9.2e18): operands of 18 digits, and their sum or
# difference; a product has the digits of both operands.
INT64_DIGITS = 18


def operands_with_digits(length: int) -> int:
    """How many whole numbers have exactly `length` digits (0 counts as one digit)."""
    return 10 if length == 1 else 9 * 10 ** (length - 1)


def stratum_size(la: int, lb: int) -> int:
    """Ordered operand pairs with exactly la and lb digits."""
    return operands_with_digits(la) * operands_with_digits(lb)


@dataclass(frozen=True)
class OperandDomain:
    """The operand pairs an operation may be asked, where that is not every pair (integer
    division: no b == 0). Samplers, the held-out sets and the whole-space enumeration
    draw only these. For a commutative operation it must be symmetric: a?b and b?a are
    one question."""

    # Elementwise mask over operand arrays: int64, or Python integers (object arrays) for
    # the held-out sets longer than int64.
    allows: Callable[[np.ndarray, np.ndarray], np.ndarray]
    # How many ordered pairs it allows whose operands have exactly la and lb digits: the
    # strata's sizes, which the balanced sampler and the whole-space estimates weigh by.
    count: Callable[[int, int], int]


@dataclass(frozen=True)
class Operation:
    name: str  # the value of data.operation
    symbol: str  # the operator character in a question
    # Exact arithmetic: on int64 arrays (operands within `max_digits`), and on Python
    # integers of any length (the longer held-out sets).
    array: Callable[[np.ndarray, np.ndarray], np.ndarray]
    exact: Callable[[int, int], int]
    commutative: bool  # a?b and b?a have one answer, so the reference counts them once
    signed: bool  # answers may be negative (the vocabulary then has "-")
    product_width: bool  # an answer has as many digits as both operands together
    # Questions whose carries (or borrows) run through every column, by the longer
    # operand's digit count: the held-out "chains_N" sets.
    chains: Callable[[int], list[tuple[str, str]]]
    # Extra held-out sets: name -> the second operand's digit count (the first has N).
    longer_shapes: tuple[tuple[str, int | None], ...] = (("digits", None),)
    carries_counted: bool = False  # whether scoring breaks results down by carries
    # None: every operand pair may be asked (the samplers then draw exactly what they
    # drew before domains existed, so the data files keep their bytes).
    domain: OperandDomain | None = None

    @property
    def max_digits(self) -> int:
        """The most operand digits whose answers int64 holds exactly."""
        return INT64_DIGITS // 2 if self.product_width else INT64_DIGITS

    def answer_width(self, digits: int) -> int:
        """Characters of the longest answer to operands of up to `digits` digits: a sum
        carries, a difference has a sign, a product has both operands' digits."""
        return 2 * digits if self.product_width else digits + 1

    def allows(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Mask of the operand pairs (a[i], b[i]) this operation may be asked."""
        if self.domain is None:
            return np.ones(np.shape(a), dtype=bool)
        return np.asarray(self.domain.allows(a, b), dtype=bool)

    def allowed_pairs(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The pairs (a[i], b[i]) this operation may be asked: a and b themselves when every
        pair may be."""
        if self.domain is None:
            return a, b
        keep = self.allows(a, b)
        return a[keep], b[keep]

    def pairs_with_digits(self, la: int, lb: int) -> int:
        """Ordered questions it may be asked whose operands have exactly la and lb digits."""
        return stratum_size(la, lb) if self.domain is None else self.domain.count(la, lb)

    def __str__(self) -> str:
        return self.name


def _runs(n: int) -> tuple[str, str, str]:
    """The n-digit numbers the chains are made of: 99...9, 10...0 and 50...0."""
    return "9" * n, "1" + "0" * (n - 1), "5" + "0" * (n - 1)


def _add_chains(n: int) -> list[tuple[str, str]]:
    nines, one_then_zeros, five_then_zeros = _runs(n)
    return [
        (nines, "1"),
        ("1", nines),
        (nines, nines),
        (five_then_zeros, five_then_zeros),
        ("4" + "9" * (n - 1), "5" + "0" * (n - 2) + "1" if n > 1 else "6"),
        (one_then_zeros, nines),
    ]


def _sub_chains(n: int) -> list[tuple[str, str]]:
    nines, one_then_zeros, five_then_zeros = _runs(n)
    return [
        (one_then_zeros, "1"),
        (five_then_zeros, "1"),
        ("1", one_then_zeros),
        (one_then_zeros, nines),
        (nines, nines),
        (one_then_zeros[:-1] + "1", one_then_zeros[:-1] + "2"),
    ]


def _mul_chains(n: int) -> list[tuple[str, str]]:
    nines, one_then_zeros, five_then_zeros = _runs(n)
    return [
        (nines, nines),
        (nines, "9"),
        ("9", nines),
        (one_then_zeros, one_then_zeros),
        (five_then_zeros, "2"),
        (nines, "1"),
    ]


OPERATIONS: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "add",
            "+",
            np.add,
            lambda x, y: x + y,
            commutative=True,
            signed=False,
            product_width=False,
            chains=_add_chains,
            carries_counted=True,
        ),
        Operation(
            "sub",
            "-",
            np.subtract,
            lambda x, y: x - y,
            commutative=False,
            signed=True,
            product_width=False,
            chains=_sub_chains,
        ),
        # times1_N: an N-digit number by a 1-digit one, which needs a carry of 0 to 8 only
        # and so can be answered at any N by a model of bounded state.
        Operation(
            "mul",
            "*",
            np.multiply,
            lambda x, y: x * y,
            commutative=True,
            signed=False,
            product_width=True,
            chains=_mul_chains,
            longer_shapes=(("digits", None), ("times1", 1)),
        ),
    )
}


def operation_named(name: str) -> Operation:
    """The record of the operation called `name` (data.operation, a data file's or a
    model file's "operation"); KeyError for an unknown one. The one place a name becomes
    a record: OPERATIONS itself is for listing and membership."""
    return OPERATIONS[name]
