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
from .operations import Operation
from .vocab import END, PAD, START, Vocab

# The longest operands a held-out set may have; beyond int64 they are decimal strings.
LONGEST_DIGITS = 1000


def vocab_for(op: Operation) -> Vocab:
    # START and END are only used by the encoder-decoder architectures; every model of an
    # operation shares one vocabulary so data files serve all architectures.
    return Vocab.from_chars("0123456789" + op.symbol + "-" * op.signed + PAD + START + END)


@dataclass(frozen=True)
class QuestionFormat:
    # The record, resolved from its name once where a name is read (params, a data file,
    # the model file); files store operation.name.
    operation: Operation
    digits: int  # operands have at most this many digits
    reverse: bool  # questions are written last character first

    @property
    def symbol(self) -> str:
        return self.operation.symbol

    @property
    def vocab(self) -> Vocab:
        return vocab_for(self.operation)

    @property
    def question_width(self) -> int:
        return 2 * self.digits + 1

    @property
    def answer_width(self) -> int:
        return self.operation.answer_width(self.digits)

    @property
    def max_digits(self) -> int:
        return self.operation.max_digits

    def compute(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Exact answers for int64 operands of up to `max_digits` digits."""
        return self.operation.array(a, b)

    def with_digits(self, digits: int) -> QuestionFormat:
        """The same questions with operands of up to `digits` digits (longer held-out sets)."""
        return replace(self, digits=digits)

    def __str__(self) -> str:
        return (
            f"{self.operation} questions of up to {self.digits} digits "
            f"(vocabulary {self.vocab.chars!r}), reverse={self.reverse}"
        )


def check_same(
    expected: QuestionFormat,
    expected_from,
    found: QuestionFormat,
    found_from,
    any_digits: bool = False,
) -> None:
    """Stop with one message unless `found` (a data file's format) is `expected` (a model's,
    or another data file's); with `any_digits`, operand lengths may differ."""
    if (found.with_digits(expected.digits) if any_digits else found) != expected:
        raise DataFileError(
            f"{expected_from} holds {expected}, but {found_from} holds {found}; they come from "
            "different generate runs; rerun `dvc repro`"
        )
