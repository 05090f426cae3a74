"""Held-out sets of questions longer than any in training: random operands of exactly N
digits, random N-digit by 1-digit products (for multiplication, whose carry then stays
below 9 at any N), and carry chains (999...9+1, 5000...0-1, ...) where one column decides
every digit above it. Numbers this long do not fit int64, so they are drawn as digit strings
and computed with Python's integers; the operands are stored as decimal strings. Only pairs
the operation's domain allows are drawn."""

from __future__ import annotations

import numpy as np

from .config import DataConfig
from .operations import Operation, operation_named
from .question_format import QuestionFormat
from .question_set import QuestionSet


def generate_longer(cfg: DataConfig) -> dict[str, QuestionSet]:
    """For each N in cfg.longer_digits, shortest first: "digits_N" (both operands of N
    digits), the operation's other shapes (`Operation.longer_shapes`, e.g. "times1_N": N
    digits by 1), and "chains_N" (carry chains)."""
    sets = {}
    op = operation_named(cfg.operation)
    for digits in sorted(cfg.longer_digits):
        fmt = QuestionFormat(op, digits, cfg.reverse)
        for name, b_digits in op.longer_shapes:
            # Its own stream per set, so changing one set leaves the others alone.
            rng = np.random.default_rng([cfg.seed, digits] + ([b_digits] if b_digits else []))
            a, b = random_operands(op, digits, cfg.longer_count, rng, b_digits or digits)
            sets[f"{name}_{digits}"] = question_set(a, b, fmt)
        chain_a, chain_b = zip(*chains(op, digits))
        sets[f"chains_{digits}"] = question_set(list(chain_a), list(chain_b), fmt)
    return sets


def random_operands(
    op: Operation, digits: int, count: int, rng: np.random.Generator, b_digits: int | None = None
) -> tuple[list[str], list[str]]:
    """`count` distinct ordered pairs that `op` allows of numbers with exactly `digits`
    digits (the second with `b_digits`, if given), as strings; fewer if fewer exist."""
    b_digits = digits if b_digits is None else b_digits
    count = min(count, op.pairs_with_digits(digits, b_digits))
    seen, a, b = set(), [], []
    while len(a) < count:
        n = count - len(a)
        if b_digits == digits:  # one draw for both, as the first sets were drawn
            texts = _numbers(digits, 2 * n, rng)
            x_texts, y_texts = texts[:n], texts[n:]
        else:
            x_texts, y_texts = _numbers(digits, n, rng), _numbers(b_digits, n, rng)
        if op.domain is not None:
            allowed = op.allows(_python_ints(x_texts), _python_ints(y_texts))
            x_texts, y_texts = x_texts[allowed], y_texts[allowed]
        for x, y in zip(x_texts, y_texts):
            if (x, y) not in seen:
                seen.add((x, y))
                a.append(x)
                b.append(y)
    return a, b


def _numbers(digits: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """`n` random numbers of exactly `digits` digits, as strings."""
    draw = rng.integers(0, 10, size=(n, digits), dtype=np.uint8)
    draw[:, 0] = rng.integers(1, 10, size=n, dtype=np.uint8) if digits > 1 else draw[:, 0]
    return (draw + ord("0")).view(f"S{digits}").ravel().astype(str)


def chains(op: Operation, digits: int) -> list[tuple[str, str]]:
    """Questions whose longer operand has `digits` digits and where a carry or borrow runs
    through every column (or the sign is decided by the last one)."""
    # Distinct, in order (at one digit some coincide).
    pairs = list(dict.fromkeys(op.chains(digits)))
    if op.domain is None:
        return pairs
    allowed = op.allows(*(_python_ints(side) for side in zip(*pairs)))
    return [pair for pair, keep in zip(pairs, allowed) if keep]


def _python_ints(texts) -> np.ndarray:
    """Decimal strings as an array of Python integers (too long for int64), for a domain."""
    return np.array([int(t) for t in texts], dtype=object)


def question_set(a: list[str], b: list[str], fmt: QuestionFormat) -> QuestionSet:
    exact = fmt.operation.exact
    answers = [str(exact(int(x), int(y))) for x, y in zip(a, b)]
    return QuestionSet(
        question=question_ids(a, b, fmt),
        answer=fmt.vocab.encode(answers, fmt.answer_width),
        a=_operands(a, fmt),
        b=_operands(b, fmt),
        format=fmt,
    )


def _operands(texts: list[str], fmt: QuestionFormat) -> np.ndarray:
    """int64 where it holds them (as in every other question set), else the strings."""
    if fmt.digits <= fmt.max_digits:
        return np.array([int(t) for t in texts], dtype=np.int64)
    return np.array(texts, dtype=f"U{fmt.digits}")


def question_ids(a: list[str], b: list[str], fmt: QuestionFormat) -> np.ndarray:
    """Character ids of the questions "a?b" (decimal strings without leading zeros) in
    format `fmt`, of any length, as `questions.question_and_answer_ids` writes them."""
    ids = fmt.vocab.encode([f"{x}{fmt.symbol}{y}" for x, y in zip(a, b)], fmt.question_width)
    return ids[:, ::-1].copy() if fmt.reverse else ids
