"""Held-out sets of questions longer than any in training: random operands of exactly N
digits, and carry chains (999...9+1, 5000...0-1, ...) where one column decides every
digit above it. Numbers this long do not fit int64, so they are drawn as digit strings
and computed with Python's integers; the operands are stored as decimal strings."""

from __future__ import annotations

import numpy as np

from ..pipeline.params import DataConfig
from .question_format import QuestionFormat, max_operand_digits
from .question_set import QuestionSet

_PYTHON = {"add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y}


def generate_longer(cfg: DataConfig) -> dict[str, QuestionSet]:
    """{"digits_N": random questions, "chains_N": carry chains} for each N in
    cfg.longer_digits, shortest first."""
    sets = {}
    for digits in sorted(cfg.longer_digits):
        fmt = QuestionFormat(cfg.operation, digits, cfg.reverse)
        # Its own stream per length, so changing one set leaves the others alone.
        rng = np.random.default_rng([cfg.seed, digits])
        a, b = random_operands(digits, cfg.longer_count, rng)
        sets[f"digits_{digits}"] = question_set(a, b, fmt)
        chain_a, chain_b = zip(*chains(cfg.operation, digits))
        sets[f"chains_{digits}"] = question_set(list(chain_a), list(chain_b), fmt)
    return sets


def random_operands(digits: int, count: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """`count` distinct ordered pairs of numbers with exactly `digits` digits, as strings."""
    seen, a, b = set(), [], []
    while len(a) < count:
        n = count - len(a)
        draw = rng.integers(0, 10, size=(2 * n, digits), dtype=np.uint8)
        draw[:, 0] = rng.integers(1, 10, size=2 * n, dtype=np.uint8) if digits > 1 else draw[:, 0]
        texts = (draw + ord("0")).view(f"S{digits}").ravel().astype(str)
        for x, y in zip(texts[:n], texts[n:]):
            if (x, y) not in seen:
                seen.add((x, y))
                a.append(x)
                b.append(y)
    return a, b


def chains(operation: str, digits: int) -> list[tuple[str, str]]:
    """Questions whose longer operand has `digits` digits and where a carry or borrow runs
    through every column (or the sign is decided by the last one)."""
    nines, one_then_zeros = "9" * digits, "1" + "0" * (digits - 1)
    five_then_zeros = "5" + "0" * (digits - 1)
    if operation == "add":
        pairs = [(nines, "1"), ("1", nines), (nines, nines), (five_then_zeros, five_then_zeros),
                 ("4" + "9" * (digits - 1), "5" + "0" * (digits - 2) + "1" if digits > 1 else "6"),
                 (one_then_zeros, nines)]
    elif operation == "sub":
        pairs = [(one_then_zeros, "1"), (five_then_zeros, "1"), ("1", one_then_zeros), (one_then_zeros, nines),
                 (nines, nines), (one_then_zeros[:-1] + "1", one_then_zeros[:-1] + "2")]
    else:
        pairs = [(nines, nines), (nines, "9"), ("9", nines), (one_then_zeros, one_then_zeros),
                 (five_then_zeros, "2"), (nines, "1")]
    # Distinct, in order (at one digit some coincide).
    return list(dict.fromkeys(pairs))


def question_set(a: list[str], b: list[str], fmt: QuestionFormat) -> QuestionSet:
    compute = _PYTHON[fmt.operation]
    answers = [str(compute(int(x), int(y))) for x, y in zip(a, b)]
    return QuestionSet(
        question=encode_questions(a, b, fmt),
        answer=fmt.vocab.encode(answers, fmt.answer_width),
        a=_operands(a, fmt),
        b=_operands(b, fmt),
        format=fmt,
    )


def _operands(texts: list[str], fmt: QuestionFormat) -> np.ndarray:
    """int64 where it holds them (as in every other question set), else the strings."""
    if fmt.digits <= max_operand_digits(fmt.operation):
        return np.array([int(t) for t in texts], dtype=np.int64)
    return np.array(texts, dtype=f"U{fmt.digits}")


def encode_questions(a: list[str], b: list[str], fmt: QuestionFormat) -> np.ndarray:
    """Character ids of the questions "a?b" (decimal strings without leading zeros) in
    format `fmt`, of any length, as `questions.encode` writes them."""
    ids = fmt.vocab.encode([f"{x}{fmt.symbol}{y}" for x, y in zip(a, b)], fmt.question_width)
    return ids[:, ::-1].copy() if fmt.reverse else ids
