"""The question format: what the questions and answers of one kind look like.

Operation, operand digits and reversal decide everything else: the vocabulary, the widths
of the encoded question and answer, the operator symbol, the arithmetic, and how many
digits can be computed exactly. Every question set and the model file hold one, and
"does this model read these questions?" is a comparison of two of them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..pipeline.errors import DataFileError
from .vocab import END, PAD, START, Vocab

SYMBOLS = {"add": "+", "sub": "-", "mul": "*"}
OPERATIONS = tuple(SYMBOLS)
_COMPUTE = {"add": np.add, "sub": np.subtract, "mul": np.multiply}
# int64 holds operands below 10**18, and the sum or difference of two of them.
INT64_DIGITS = 18
# The longest operands a held-out set may have; beyond int64 they are decimal strings.
LONGEST_DIGITS = 1000


def max_operand_digits(operation: str) -> int:
    """The most operand digits whose answers int64 holds exactly: a product has up to twice
    its operands' digits."""
    return INT64_DIGITS // 2 if operation == "mul" else INT64_DIGITS


def vocab_for(operation: str) -> Vocab:
    # START and END are only used by the encoder-decoder architectures; every model of an
    # operation shares one vocabulary so data files serve all architectures.
    return Vocab.from_chars("0123456789" + SYMBOLS[operation] + "-" * (operation == "sub") + PAD + START + END)


@dataclass(frozen=True)
class QuestionFormat:
    operation: str  # add | sub | mul
    digits: int  # operands have at most this many digits
    reverse: bool  # questions are written last character first

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.operation]

    @property
    def vocab(self) -> Vocab:
        return vocab_for(self.operation)

    @property
    def question_width(self) -> int:
        return 2 * self.digits + 1

    @property
    def answer_width(self) -> int:
        """Characters of the longest possible answer: a sum carries, a difference has a
        sign, a product has up to twice the operands' digits."""
        return 2 * self.digits if self.operation == "mul" else self.digits + 1

    @property
    def max_digits(self) -> int:
        return max_operand_digits(self.operation)

    def compute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return _COMPUTE[self.operation](a, b)

    def with_digits(self, digits: int) -> "QuestionFormat":
        """The same questions with operands of up to `digits` digits (longer held-out sets)."""
        return replace(self, digits=digits)

    def __str__(self) -> str:
        return (
            f"{self.operation} questions of up to {self.digits} digits (vocabulary {self.vocab.chars!r}), "
            f"reverse={self.reverse}"
        )


def check_same(expected: QuestionFormat, expected_from, found: QuestionFormat, found_from, any_digits: bool = False) -> None:
    """Stop with one message unless `found` (a data file's format) is `expected` (a model's,
    or another data file's); with `any_digits`, operand lengths may differ."""
    if (found.with_digits(expected.digits) if any_digits else found) != expected:
        raise DataFileError(
            f"{expected_from} holds {expected}, but {found_from} holds {found}; they come from different "
            "generate runs; rerun `dvc repro`"
        )
