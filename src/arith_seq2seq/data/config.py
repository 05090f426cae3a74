"""The data section of params.yaml (stage generate): what questions to generate."""

from __future__ import annotations

from dataclasses import dataclass

from ..pipeline.config import MAX_QUESTIONS, MAX_SEED, check_bool, check_choice, check_int, shown
from ..pipeline.errors import ConfigError
from .operations import OPERATIONS, operation_named
from .question_format import LONGEST_DIGITS

# How generate draws training questions (see questions.py).
SAMPLINGS = ("balanced", "reference")


@dataclass(frozen=True)
class DataConfig:
    digits: int
    count: int
    operation: str
    sampling: str
    reverse: bool
    seed: int
    longer_digits: tuple[int, ...]
    longer_count: int

    def validate(self) -> None:
        check_choice("data.operation", self.operation, tuple(OPERATIONS))
        check_choice("data.sampling", self.sampling, SAMPLINGS)
        most = operation_named(self.operation).max_digits
        check_int("data.digits", self.digits, 1)
        if self.digits > most:
            raise ConfigError(
                f"data.digits is {self.digits}, but {self.operation} answers are exact only up to "
                f"{most} digits per operand; lower data.digits"
            )
        check_int("data.count", self.count, 1, MAX_QUESTIONS)
        check_bool("data.reverse", self.reverse)
        check_int("data.seed", self.seed, 0, MAX_SEED)
        lengths = self.longer_digits
        if not isinstance(lengths, (list, tuple)):
            raise ConfigError(
                f"data.longer_digits must be a list such as [4, 5, 10], got {shown(lengths)}"
            )
        for value in lengths:
            check_int("data.longer_digits entries", value, 1)
            if not self.digits < value <= LONGEST_DIGITS:
                raise ConfigError(
                    f"data.longer_digits has {value}; held-out lengths must be longer than "
                    f"data.digits ({self.digits}) and at most {LONGEST_DIGITS}; change it, or set "
                    "data.longer_digits: [] for no longer sets"
                )
        if len(set(lengths)) != len(lengths):
            raise ConfigError(f"data.longer_digits has repeated entries: {list(lengths)}")
        check_int("data.longer_count", self.longer_count, 1, MAX_QUESTIONS)
