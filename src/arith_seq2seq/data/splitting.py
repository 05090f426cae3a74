"""Splitting a question set into disjoint train, validation and test sets."""

from __future__ import annotations

import numpy as np

from ..pipeline.errors import ConfigError
from ..pipeline.params import SplitConfig
from .question_set import QuestionSet


def split(qs: QuestionSet, cfg: SplitConfig) -> tuple[QuestionSet, QuestionSet, QuestionSet]:
    """Disjoint train/val/test sets; the same seed always gives the same split."""
    train, val, test = split_rows(qs, cfg)
    return qs.take(train), qs.take(val), qs.take(test)


def split_rows(qs: QuestionSet, cfg: SplitConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sorted row numbers of the train, val and test sets of split() (for save's `rows`).

    Each question gets a seeded pseudo-random number from its operands alone; the lowest
    numbers go to val, the next to test, the rest to train. A question's set therefore
    depends on the question and the seed, not on which other questions were drawn, and a
    question and its mirror (a+b and b+a, for add and mul: the same number) always land in
    the same set: otherwise a test question would be one the model trained on, written the
    other way. Sizes are exact but for such ties at the two cuts.

    Questions whose operands both have at most `cfg.always_train_digits` digits (and fewer
    than the data's longest) all go to train: users ask them first, and there are too
    few of them (10,000 of 1,000,000 at 3 digits) for a model to learn them from the rest."""
    n = len(qs)
    n_val = int(round(n * cfg.val_fraction))
    n_test = int(round(n * cfg.test_fraction))
    n_train = n - n_val - n_test
    for name, size in (("validation", n_val), ("test", n_test), ("training", n_train)):
        if size < 1:
            raise ConfigError(
                f"the {name} split of {n} questions would be empty with "
                f"split.val_fraction={cfg.val_fraction} and "
                f"split.test_fraction={cfg.test_fraction}; raise data.count or adjust "
                "the fractions"
            )
    rank = _question_hash(qs, cfg.seed, min(cfg.always_train_digits, qs.format.digits - 1))
    held = n - int(np.count_nonzero(rank == _TRAIN_ONLY))
    if held < n_val + n_test + 1:
        raise ConfigError(
            f"only {held} of the {n} questions may be held out (the others have operands of at "
            f"most split.always_train_digits = {cfg.always_train_digits} digits), too few for a "
            f"validation split of {n_val} and a test split of {n_test}; lower "
            "split.always_train_digits or raise data.count"
        )
    cuts = np.partition(rank, [n_val - 1, n_val + n_test - 1])
    last_val, last_test = cuts[n_val - 1], cuts[n_val + n_test - 1]
    del cuts
    # int32 row numbers where they fit: with the hashes, 8 bytes a question in all.
    index = np.int32 if n < 2**31 else np.int64
    parts = ([], [], [])
    for start in range(0, n, _SPLIT_CHUNK):
        r = rank[start : start + _SPLIT_CHUNK]
        masks = (r > last_test, r <= last_val, (r > last_val) & (r <= last_test))
        for part, mask in zip(parts, masks):
            part.append((np.flatnonzero(mask) + start).astype(index))
    train, val, test = (np.concatenate(p) for p in parts)
    if not (len(train) and len(val) and len(test)):
        raise ConfigError(f"the split of {n} questions left a part empty; raise data.count")
    return train, val, test


# Rows hashed or masked at a time by the split: bounds its temporaries to a few MB.
_SPLIT_CHUNK = 1 << 18


# The rank of a question that must go to train: above every cut (hashes stop below it).
_TRAIN_ONLY = np.uint32(2**32 - 1)


def _question_hash(qs: QuestionSet, seed: int, train_only_digits: int = 0) -> np.ndarray:
    """A uint32 per row, pseudo-random but a pure function of (seed, question): splitmix64
    over the operands, ordered where order matters and as the unordered pair for
    commutative operations; rows whose operands both have at most `train_only_digits`
    digits get _TRAIN_ONLY."""
    out = np.empty(len(qs), dtype=np.uint32)
    base = _mix(np.array([seed], dtype=np.uint64))
    limit = 10**train_only_digits
    for start in range(0, len(qs), _SPLIT_CHUNK):
        a, b = qs.a[start : start + _SPLIT_CHUNK], qs.b[start : start + _SPLIT_CHUNK]
        lo, hi = (np.minimum(a, b), np.maximum(a, b)) if qs.format.operation.commutative else (a, b)
        h = _mix(_mix(base ^ lo.astype(np.uint64)) ^ hi.astype(np.uint64)) >> np.uint64(32)
        out[start : start + _SPLIT_CHUNK] = np.minimum(h, _TRAIN_ONLY - 1)
        if train_only_digits:
            out[start : start + _SPLIT_CHUNK][(a < limit) & (b < limit)] = _TRAIN_ONLY
    return out


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: uint64 in, well-mixed uint64 out (arithmetic wraps)."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))
