"""Arithmetic questions: sampling operands, encoding them as characters, counting carries.

Two samplings (`data.sampling`):
- "reference", the Keras example's: each operand gets a digit count drawn uniformly from
  1..digits, then uniform digits (so "007" is the number 7); for the commutative
  operations (add, mul) a+b and b+a are the same question; the first draw of a question
  is kept.
- "balanced": questions are ordered (a+b and b+a are two, as users ask both), and every
  operand digit-count stratum (1+1, 1+2, ..., digits+digits) gets an equal share of the
  count; a stratum smaller than its share is taken whole and the rest goes to the others.
  The reference keeps one order of each pair and so leaves most short questions unseen
  ("0+1" fails where "1+0" was trained).
Both draw only pairs the operation's domain allows (`Operation.allows`); for add, sub and
mul that is every pair. Everything is vectorised numpy.
"""

from __future__ import annotations

import numpy as np

from ..pipeline.errors import ConfigError
from .config import DataConfig
from .operations import (
    INT64_DIGITS,
    Operation,
    operands_with_digits,
    operation_named,
    stratum_size,
)
from .question_format import QuestionFormat
from .question_set import QuestionSet

POW10 = 10 ** np.arange(INT64_DIGITS + 1, dtype=np.int64)
# Rows drawn, keyed or encoded at a time: bounds the temporaries (a few MB) whatever
# data.count is, so memory is the output arrays plus a constant.
_CHUNK = 1 << 16


def distinct_questions(digits: int, op: Operation, sampling: str = "reference") -> int:
    """How many different questions `op` may be asked with operands below 10**digits (for
    the reference's commutative operations, a+b and b+a are one)."""
    ordered = space_size(op, digits)
    if not op.commutative or sampling == "balanced":
        return ordered
    # Each unordered pair twice among the ordered ones (a symmetric domain), but a?a once.
    diagonal = 10**digits
    if op.domain is not None:
        diagonal = 0
        for start in range(0, 10**digits, _CHUNK):
            x = np.arange(start, min(start + _CHUNK, 10**digits), dtype=np.int64)
            diagonal += int(np.count_nonzero(op.allows(x, x)))
    return (ordered + diagonal) // 2


def space_size(op: Operation, digits: int) -> int:
    """Ordered questions `op` may be asked with operands below 10**digits."""
    return sum(op.pairs_with_digits(la, lb) for la, lb in strata(digits))


def strata(digits: int) -> list[tuple[int, int]]:
    """The operand digit-count strata (la, lb), in order: (1, 1), (1, 2), ..."""
    return [(la, lb) for la in range(1, digits + 1) for lb in range(1, digits + 1)]


def lowest_with_digits(length: int) -> int:
    return 0 if length == 1 else 10 ** (length - 1)


def equal_shares(count: int, sizes: list[int]) -> list[int]:
    """Split `count` into equal shares, one per size, none above its size: a size smaller
    than its share is taken whole and the rest is shared among the others (water-filling).
    Needs count <= sum(sizes)."""
    shares = [0] * len(sizes)
    left = count
    by_size = sorted(range(len(sizes)), key=lambda i: sizes[i])
    for rank, i in enumerate(by_size):
        # Ceiling division: the largest stratum, last, takes exactly what is left.
        shares[i] = min(sizes[i], -(-left // (len(sizes) - rank)))
        left -= shares[i]
    return shares


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


def generate_questions(cfg: DataConfig) -> QuestionSet:
    """Draw `cfg.count` distinct questions and encode them."""
    op = operation_named(cfg.operation)
    rng = np.random.default_rng(cfg.seed)
    if cfg.sampling == "balanced":
        a, b = sample_balanced(cfg.digits, cfg.count, rng, op)
    else:
        a, b = sample_operands(cfg.digits, cfg.count, rng, op)
    fmt = QuestionFormat(op, cfg.digits, cfg.reverse)
    question, answer = question_and_answer_ids(a, b, fmt)
    return QuestionSet(question=question, answer=answer, a=a, b=b, format=fmt)


def sample_operands(
    digits: int, count: int, rng: np.random.Generator, op: Operation
) -> tuple[np.ndarray, np.ndarray]:
    total = distinct_questions(digits, op)
    if count > total:
        raise ConfigError(
            f"data.count is {count:,}, but only {total:,} distinct {op} questions with "
            f"up to {digits} digit(s) exist; lower data.count or raise data.digits"
        )
    # Rejection sampling (what the reference does) slows to a crawl as the last rare
    # questions are collected; past half of all questions, sample without replacement
    # from the full enumeration instead, which gives the same distribution.
    if 2 * count > total:
        return _sample_by_enumeration(digits, count, rng, op)
    return _sample_by_rejection(digits, count, rng, op)


def sample_balanced(digits: int, count: int, rng: np.random.Generator, op: Operation):
    """`count` distinct ordered questions, an equal share per digit-count stratum (see the
    module's docstring), in random order."""
    total = distinct_questions(digits, op, "balanced")
    if count > total:
        raise ConfigError(
            f"data.count is {count:,}, but only {total:,} distinct ordered {op} questions "
            f"with up to {digits} digit(s) exist; lower data.count or raise data.digits"
        )
    cells = strata(digits)
    shares = equal_shares(count, [op.pairs_with_digits(la, lb) for la, lb in cells])
    parts = [
        _sample_stratum(la, lb, share, rng, digits, op)
        for (la, lb), share in zip(cells, shares)
        if share
    ]
    a = np.concatenate([p[0] for p in parts])
    b = np.concatenate([p[1] for p in parts])
    order = rng.permutation(count)
    return a[order], b[order]


# Strata up to this many questions are sampled from their enumeration (a few MB).
_ENUMERATE = 1 << 22


def _sample_stratum(
    la: int, lb: int, count: int, rng: np.random.Generator, digits: int, op: Operation
):
    """`count` distinct ordered pairs, uniform among those with la and lb digits that `op`
    allows."""
    n_b = operands_with_digits(lb)
    low_a, low_b = lowest_with_digits(la), lowest_with_digits(lb)
    size = stratum_size(la, lb)
    if size <= max(_ENUMERATE, 2 * count):
        if op.domain is None:
            index = rng.choice(size, count, replace=False)
            return low_a + index // n_b, low_b + index % n_b
        a, b = np.divmod(np.arange(size, dtype=np.int64), n_b)
        a, b = a + low_a, b + low_b
        allowed = np.flatnonzero(op.allows(a, b))
        index = allowed[rng.choice(len(allowed), count, replace=False)]
        return a[index], b[index]
    # A vast stratum: draw pairs and drop repeats (rare at this size).
    a = np.empty(0, dtype=np.int64)
    b = np.empty(0, dtype=np.int64)
    while len(a) < count:
        n = max(1024, int((count - len(a)) * 1.05))
        new_a = rng.integers(low_a, 10**la, size=n, dtype=np.int64)
        new_b = rng.integers(low_b, 10**lb, size=n, dtype=np.int64)
        fresh = _fresh_pairs(a, b, new_a, new_b, True, digits)
        if op.domain is not None:
            fresh &= op.allows(new_a, new_b)
        _keep_first(fresh, count - len(a))
        a = np.concatenate([a, new_a[fresh]])
        b = np.concatenate([b, new_b[fresh]])
    return a, b


def _draw_operands(digits: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n operands: a digit count uniform in 1..digits, then that many uniform digits.

    Drawn in chunks so that no n-sized int64 temporaries exist; Generator.integers
    consumes its stream element by element, so this draws exactly what one call over
    all n would (tests/test_questions.py checks it)."""
    lengths = np.empty(n, dtype=np.int8)
    for start in range(0, n, _CHUNK):
        lengths[start : start + _CHUNK] = rng.integers(1, digits + 1, size=min(_CHUNK, n - start))
    out = np.empty(n, dtype=np.int64)
    for start in range(0, n, _CHUNK):
        out[start : start + _CHUNK] = rng.integers(
            0, POW10[lengths[start : start + _CHUNK]], dtype=np.int64
        )
    return out


def _fresh_pairs(
    old_a: np.ndarray,
    old_b: np.ndarray,
    new_a: np.ndarray,
    new_b: np.ndarray,
    ordered: bool,
    digits: int,
) -> np.ndarray:
    """Mask over the new pairs: True where a pair is the first draw of its question.

    The old pairs (distinct, drawn earlier) come first; for commutative operations
    (a, b) and (b, a) are one question."""
    if 2 * digits <= INT64_DIGITS:
        # One int64 key per pair, lo * 10**digits + hi < 10**(2 * digits), grouped by sorting.
        return _first_of_each_value(_pair_keys(old_a, old_b, new_a, new_b, ordered, digits))[
            len(old_a) :
        ]
    # Operands of 10 or more digits: no single int64 key; sort the pairs.
    all_a, all_b = np.concatenate([old_a, new_a]), np.concatenate([old_b, new_b])
    lo, hi = (all_a, all_b) if ordered else (np.minimum(all_a, all_b), np.maximum(all_a, all_b))
    order = np.lexsort((hi, lo))  # stable: equal pairs stay in draw order
    s_lo, s_hi = lo[order], hi[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (s_lo[1:] != s_lo[:-1]) | (s_hi[1:] != s_hi[:-1])
    mask = np.zeros(len(order), dtype=bool)
    mask[order[first]] = True
    return mask[len(old_a) :]


def _pair_keys(old_a, old_b, new_a, new_b, ordered: bool, digits: int) -> np.ndarray:
    """lo * 10**digits + hi for the old pairs then the new, built a chunk at a time."""
    key = np.empty(len(old_a) + len(new_a), dtype=np.int64)
    scale = np.int64(10**digits)
    for offset, (a, b) in ((0, (old_a, old_b)), (len(old_a), (new_a, new_b))):
        for start in range(0, len(a), _CHUNK):
            ca, cb = a[start : start + _CHUNK], b[start : start + _CHUNK]
            lo, hi = (ca, cb) if ordered else (np.minimum(ca, cb), np.maximum(ca, cb))
            key[offset + start : offset + start + len(ca)] = lo * scale + hi
    return key


def _first_of_each_value(key: np.ndarray) -> np.ndarray:
    """True at the first position of each distinct value of `key`, which it sorts in place."""
    n = len(key)
    order = np.argsort(key)  # need not be stable: each group's smallest position is taken
    key.sort()
    boundary = np.ones(n + 1, dtype=bool)  # boundary[i]: a new value starts at sorted position i
    np.not_equal(key[1:], key[:-1], out=boundary[1:n])
    alone = boundary[:-1] & boundary[1:]  # values drawn once (most of them at many digits)
    mask = np.zeros(n, dtype=bool)
    for start in range(0, n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        mask[order[sl][alone[sl]]] = True
    # Values drawn more than once: the smallest position in each run of equal values.
    repeated = np.flatnonzero(~alone)
    if len(repeated):
        mask[np.minimum.reduceat(order[repeated], np.flatnonzero(boundary[repeated]))] = True
    return mask


def _keep_first(mask: np.ndarray, k: int) -> None:
    """Clear all but the first k True entries of `mask`, in place."""
    seen = 0
    for start in range(0, len(mask), _CHUNK):
        chunk = mask[start : start + _CHUNK]
        here = int(np.count_nonzero(chunk))
        if seen + here > k:
            chunk[np.flatnonzero(chunk)[k - seen] :] = False
            mask[start + _CHUNK :] = False
            return
        seen += here


def _sample_by_rejection(digits: int, count: int, rng: np.random.Generator, op: Operation):
    ordered = not op.commutative
    a = np.empty(0, dtype=np.int64)
    b = np.empty(0, dtype=np.int64)
    acceptance = 1.0
    while len(a) < count:
        need = count - len(a)
        n = max(1024, int(need / acceptance * 1.1))
        new_a = _draw_operands(digits, n, rng)
        new_b = _draw_operands(digits, n, rng)
        fresh = _fresh_pairs(a, b, new_a, new_b, ordered, digits)
        if op.domain is not None:
            fresh &= op.allows(new_a, new_b)
        acceptance = max(int(np.count_nonzero(fresh)) / n, 1e-3)
        _keep_first(fresh, need)
        a = np.concatenate([a, new_a[fresh]])
        b = np.concatenate([b, new_b[fresh]])
        del new_a, new_b, fresh
    return a, b


def operand_probabilities(digits: int) -> np.ndarray:
    """P(operand == n) for n in 0..10**digits-1 under the reference's sampler."""
    lengths = num_digits(np.arange(10**digits, dtype=np.int64))
    # A number with L digits is drawn whenever the digit count k >= L, with prob 10**-k.
    per_k = np.array([0.0] + [10.0**-k / digits for k in range(1, digits + 1)])
    tail = np.cumsum(per_k[::-1])[::-1]  # tail[L] = sum_{k>=L} per_k[k]
    return tail[lengths]


def _sample_by_enumeration(digits: int, count: int, rng: np.random.Generator, op: Operation):
    ordered = not op.commutative
    p = operand_probabilities(digits)
    if ordered:
        lo, hi = np.divmod(np.arange(len(p) ** 2), len(p))
    else:
        lo, hi = np.triu_indices(len(p))
    lo, hi = op.allowed_pairs(lo, hi)
    weight = p[lo] * p[hi] if ordered else np.where(lo == hi, p[lo] ** 2, 2 * p[lo] * p[hi])
    # Efraimidis-Spirakis: the largest log(u)/w keys, in decreasing order, are a
    # weighted sample without replacement in the order successive draws would find it.
    keys = np.log(rng.random(len(weight))) / weight
    pick = np.argsort(-keys, kind="stable")[:count]
    lo, hi = lo[pick].astype(np.int64), hi[pick].astype(np.int64)
    if ordered:
        return lo, hi
    swap = rng.random(count) < 0.5
    return np.where(swap, hi, lo), np.where(swap, lo, hi)


def question_and_answer_ids(a: np.ndarray, b: np.ndarray, fmt: QuestionFormat):
    """Character ids of the questions "a?b" in format `fmt` and their answers, space padded.

    Works through _CHUNK rows at a time, so temporaries stay a few MB whatever len(a)."""
    n = len(a)
    digits, vocab = fmt.digits, fmt.vocab
    q_width, a_width = fmt.question_width, fmt.answer_width
    question = np.empty((n, q_width), dtype=np.uint8)
    answer = np.empty((n, a_width), dtype=np.uint8)
    digit_ids = vocab.ids("0123456789")
    symbol_id = vocab.ids(fmt.symbol)[0]
    for start in range(0, n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        ca, cb = a[sl], b[sl]
        if (ca < 0).any() or (cb < 0).any() or (np.maximum(ca, cb) >= POW10[digits]).any():
            raise ValueError(f"operands must be whole numbers of at most {digits} digits")
        la, lb = num_digits(ca), num_digits(cb)
        # Each number is written with as many digits as the widest number, leading zeros
        # included, ending at its last column: no per-row masks. The zeros land where a
        # later write covers them (b first, then the symbol, then a) or in the margin.
        q = _Canvas(len(ca), q_width, margin=digits, fill=vocab.pad_id)
        q.write_digits(cb, la + 1 + lb, digits, digit_ids)
        q.put(la, symbol_id)
        q.write_digits(ca, la, digits, digit_ids)
        question[sl] = q.view[:, ::-1] if fmt.reverse else q.view
        result = fmt.compute(ca, cb)
        negative = result < 0
        magnitude = np.abs(result)
        ans = _Canvas(len(ca), a_width, margin=a_width, fill=vocab.pad_id)
        ans.write_digits(magnitude, negative + num_digits(magnitude), a_width, digit_ids)
        if negative.any():
            ans.put(np.zeros_like(la), vocab.ids("-")[0], rows=negative)
        answer[sl] = ans.view
    return question, answer


class _Canvas:
    """Rows of character ids with a scratch margin on the left, written through flat indices."""

    def __init__(self, rows: int, width: int, margin: int, fill: int):
        self.stride = margin + width
        self.buffer = np.full((rows, self.stride), fill, dtype=np.uint8)
        self.flat = self.buffer.reshape(-1)
        self.view = self.buffer[:, margin:]
        self.row_start = np.arange(rows, dtype=np.int64) * self.stride + margin

    def put(self, column: np.ndarray, value: int, rows=None) -> None:
        """Write `value` at column[i] of each row (of the rows where `rows` is True)."""
        at = self.row_start + column
        self.flat[at if rows is None else at[rows]] = value

    def write_digits(
        self, x: np.ndarray, end: np.ndarray, places: int, digit_ids: np.ndarray
    ) -> None:
        """Write the last `places` decimal digits of x[i] >= 0 so they end before column end[i]."""
        if len(end) and end.max() > self.view.shape[1]:
            raise ValueError(f"a number does not fit in {self.view.shape[1]} characters")
        at = self.row_start + end
        # Unsigned: numpy divides uint64 by a constant several times faster than int64.
        rest = x.astype(np.uint64)
        ten = np.uint64(10)
        for _ in range(places):
            at -= 1
            higher = rest // ten
            self.flat[at] = digit_ids[rest - higher * ten]
            rest = higher


def readable_questions(question_ids: np.ndarray, fmt: QuestionFormat) -> list[str]:
    """Questions as a person writes them ("345+678"), undoing reversal and padding."""
    texts = fmt.vocab.texts(question_ids)
    return [(t[::-1] if fmt.reverse else t).strip() for t in texts]
