"""Arithmetic questions: sampling operands, encoding them as characters, counting carries.

Semantics follow the reference: each operand gets a digit count drawn uniformly from
1..digits, then uniform digits (so "007" is the number 7); for the commutative operations
(add, mul) a+b and b+a are the same question; the first draw of a question is kept.
Everything is vectorised numpy.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .config import DataConfig
from .datasets import QuestionSet, answer_width, question_width
from .errors import ConfigError
from .vocab import END, PAD, START, Vocab

POW10 = 10 ** np.arange(19, dtype=np.int64)
SYMBOLS = {"add": "+", "sub": "-", "mul": "*"}
# Rows encoded at a time: bounds the (rows x width) int64 temporaries.
_CHUNK = 1 << 20


def vocab_for(operation: str) -> Vocab:
    # START and END are only used by the encoder-decoder architectures; every model of an
    # operation shares one vocabulary so data files serve all architectures.
    return Vocab.from_chars("0123456789" + SYMBOLS[operation] + "-" * (operation == "sub") + PAD + START + END)


def distinct_questions(digits: int, operation: str = "add") -> int:
    """How many different questions with operands below 10**digits exist."""
    n = 10**digits
    return n * n if operation == "sub" else n * (n + 1) // 2


def compute(a: np.ndarray, b: np.ndarray, operation: str) -> np.ndarray:
    return {"add": np.add, "sub": np.subtract, "mul": np.multiply}[operation](a, b)


def num_digits(x: np.ndarray) -> np.ndarray:
    """Decimal digit count of non-negative integers (0 has one digit)."""
    return np.maximum(1, np.searchsorted(POW10, x, side="right")).astype(np.int64)


def count_carries(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Number of columns that produce a carry in the schoolbook addition a + b."""
    a = np.asarray(a, dtype=np.int64).copy()
    b = np.asarray(b, dtype=np.int64).copy()
    carry = np.zeros(a.shape, dtype=np.int64)
    total = np.zeros(a.shape, dtype=np.int64)
    while np.any((a > 0) | (b > 0)):
        carry = ((a % 10 + b % 10 + carry) >= 10).astype(np.int64)
        total += carry
        a //= 10
        b //= 10
    return total


def generate_questions(cfg: DataConfig, digits: int | None = None, min_digits: int = 1, seed=None) -> QuestionSet:
    """Draw `cfg.count` distinct questions and encode them.

    `digits`, `min_digits` and `seed` override the config for the longer held-out sets:
    there the longer operand has at least `min_digits` digits."""
    digits = cfg.digits if digits is None else digits
    rng = np.random.default_rng(cfg.seed if seed is None else seed)
    a, b = sample_operands(digits, cfg.count, rng, cfg.operation, min_digits)
    vocab = vocab_for(cfg.operation)
    question, answer = encode(a, b, digits, cfg.reverse, vocab, cfg.operation)
    return QuestionSet(
        question=question,
        answer=answer,
        a=a,
        b=b,
        digits=digits,
        reverse=cfg.reverse,
        vocab=vocab.chars,
        operation=cfg.operation,
    )


def generate_longer(cfg: DataConfig) -> dict[int, QuestionSet]:
    """Held-out sets whose longer operand has digits + extra digits, by that length."""
    return {
        cfg.digits + extra: generate_questions(
            replace(cfg, count=cfg.longer_count),
            digits=cfg.digits + extra,
            min_digits=cfg.digits + extra,
            # Its own stream per length, so changing one set leaves the others alone.
            seed=[cfg.seed, cfg.digits + extra],
        )
        for extra in cfg.longer_extra_digits
    }


def sample_operands(
    digits: int, count: int, rng: np.random.Generator, operation: str = "add", min_digits: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    ordered = operation == "sub"
    if min_digits > 1:
        # Held-out sets of longer questions: rejection on the longer operand's length.
        return _sample_by_rejection(digits, count, rng, ordered, min_digits)
    total = distinct_questions(digits, operation)
    if count > total:
        raise ConfigError(
            f"data.count is {count:,}, but only {total:,} distinct {operation} questions with "
            f"up to {digits} digit(s) exist; lower data.count or raise data.digits"
        )
    # Rejection sampling (what the reference does) slows to a crawl as the last rare
    # questions are collected; past half of all questions, sample without replacement
    # from the full enumeration instead, which gives the same distribution.
    if 2 * count > total:
        return _sample_by_enumeration(digits, count, rng, ordered)
    return _sample_by_rejection(digits, count, rng, ordered)


def _draw_operands(digits: int, n: int, rng: np.random.Generator) -> np.ndarray:
    lengths = rng.integers(1, digits + 1, size=n)
    return rng.integers(0, POW10[lengths], dtype=np.int64)


def _first_occurrences(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sorted indices of the first occurrence of each distinct (lo, hi) pair."""
    order = np.lexsort((hi, lo))  # stable: equal pairs stay in draw order
    s_lo, s_hi = lo[order], hi[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (s_lo[1:] != s_lo[:-1]) | (s_hi[1:] != s_hi[:-1])
    return np.sort(order[first])


def _sample_by_rejection(digits: int, count: int, rng: np.random.Generator, ordered: bool, min_digits: int = 1):
    a = np.empty(0, dtype=np.int64)
    b = np.empty(0, dtype=np.int64)
    acceptance = 1.0
    while len(a) < count:
        need = count - len(a)
        n = max(1024, int(need / acceptance * 1.1))
        new_a = _draw_operands(digits, n, rng)
        new_b = _draw_operands(digits, n, rng)
        if min_digits > 1:
            long_enough = num_digits(np.maximum(new_a, new_b)) >= min_digits
            new_a, new_b = new_a[long_enough], new_b[long_enough]
        all_a = np.concatenate([a, new_a])
        all_b = np.concatenate([b, new_b])
        if ordered:
            keep = _first_occurrences(all_a, all_b)
        else:
            keep = _first_occurrences(np.minimum(all_a, all_b), np.maximum(all_a, all_b))
        fresh = keep[keep >= len(a)]
        acceptance = max(len(fresh) / n, 1e-3)
        fresh = fresh[:need]
        a = np.concatenate([a, all_a[fresh]])
        b = np.concatenate([b, all_b[fresh]])
    return a, b


def operand_probabilities(digits: int) -> np.ndarray:
    """P(operand == n) for n in 0..10**digits-1 under the reference's sampler."""
    lengths = num_digits(np.arange(10**digits, dtype=np.int64))
    # A number with L digits is drawn whenever the digit count k >= L, with prob 10**-k.
    per_k = np.array([0.0] + [10.0**-k / digits for k in range(1, digits + 1)])
    tail = np.cumsum(per_k[::-1])[::-1]  # tail[L] = sum_{k>=L} per_k[k]
    return tail[lengths]


def _sample_by_enumeration(digits: int, count: int, rng: np.random.Generator, ordered: bool):
    p = operand_probabilities(digits)
    if ordered:
        lo, hi = np.divmod(np.arange(len(p) ** 2), len(p))
        weight = p[lo] * p[hi]
    else:
        lo, hi = np.triu_indices(len(p))
        weight = np.where(lo == hi, p[lo] ** 2, 2 * p[lo] * p[hi])
    # Efraimidis-Spirakis: the largest log(u)/w keys, in decreasing order, are a
    # weighted sample without replacement in the order successive draws would find it.
    keys = np.log(rng.random(len(weight))) / weight
    pick = np.argsort(-keys, kind="stable")[:count]
    lo, hi = lo[pick].astype(np.int64), hi[pick].astype(np.int64)
    if ordered:
        return lo, hi
    swap = rng.random(count) < 0.5
    return np.where(swap, hi, lo), np.where(swap, lo, hi)


def encode(a: np.ndarray, b: np.ndarray, digits: int, reverse: bool, vocab: Vocab, operation: str = "add"):
    """Character ids of the questions "a?b" and their answers, space padded."""
    n = len(a)
    q_width, a_width = question_width(digits), answer_width(digits, operation)
    question = np.empty((n, q_width), dtype=np.uint8)
    answer = np.empty((n, a_width), dtype=np.uint8)
    digit_ids = vocab.ids("0123456789")
    symbol_id = vocab.ids(SYMBOLS[operation])[0]
    for start in range(0, n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        ca, cb = a[sl], b[sl]
        la, lb = num_digits(ca), num_digits(cb)
        q = np.full((len(ca), q_width), vocab.pad_id, dtype=np.uint8)
        _place(q, ca, np.zeros_like(la), la, digit_ids)
        q[np.arange(len(ca)), la] = symbol_id
        _place(q, cb, la + 1, lb, digit_ids)
        question[sl] = q[:, ::-1] if reverse else q
        result = compute(ca, cb, operation)
        negative = result < 0
        ans = np.full((len(ca), a_width), vocab.pad_id, dtype=np.uint8)
        if negative.any():
            ans[negative, 0] = vocab.ids("-")[0]
        magnitude = np.abs(result)
        _place(ans, magnitude, negative.astype(np.int64), num_digits(magnitude), digit_ids)
        answer[sl] = ans
    return question, answer


def _place(out: np.ndarray, x: np.ndarray, start: np.ndarray, length: np.ndarray, digit_ids: np.ndarray) -> None:
    """Write the decimal digits of x[i] into out[i, start[i]:start[i]+length[i]]."""
    rel = np.arange(out.shape[1])[None, :] - start[:, None]
    inside = (rel >= 0) & (rel < length[:, None])
    exponent = np.clip(length[:, None] - 1 - rel, 0, len(POW10) - 1)
    digit = (x[:, None] // POW10[exponent]) % 10
    out[inside] = digit_ids[digit[inside]]


def readable_questions(question_ids: np.ndarray, vocab: Vocab, reverse: bool) -> list[str]:
    """Questions as a person writes them ("345+678"), undoing reversal and padding."""
    texts = vocab.decode(question_ids)
    return [(t[::-1] if reverse else t).strip() for t in texts]
