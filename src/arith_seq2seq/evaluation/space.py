"""The question space: every question a user can ask the model, scored at once.

A model trained on operands of up to `digits` digits answers every ordered pair (a, b)
with 0 <= a, b < 10**digits that its operation allows (`Operation.allows`; every pair for
add, sub and mul): 1,000,000 questions at 3 digits. When the space holds at most
`evaluate.space_questions` questions all of them are scored; otherwise a sample of that
many, an equal share per operand digit-count stratum (1+1, 1+2, ...; a stratum smaller
than its share is scored whole), and the whole-space figures are estimates that weigh each
stratum by its size. The test split mirrors the training distribution; this is how a user
meets the model, short questions included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data.operations import INT64_DIGITS, Operation
from ..data.question_format import QuestionFormat
from ..data.question_set import QuestionSet
from ..data.questions import num_digits, question_and_answer_ids, sample_balanced, space_size
from ..model.answering import answer_questions
from ..model.model_file import TrainedModel
from .metrics import exact_match
from .scoring import error_table

# Where a scored question sits, for the "never trained on" figures and the error rows.
SPLITS = ("none", "train", "val", "test")


@dataclass
class SpaceScore:
    digits: int
    a: np.ndarray  # the questions scored, sorted by (a, b)
    b: np.ndarray
    predicted: np.ndarray  # answer ids
    expected: np.ndarray
    right: np.ndarray  # bool: the whole answer right
    split: np.ndarray  # index into SPLITS
    operation: Operation  # its domain says which questions the space holds

    @property
    def size(self) -> int:
        """Questions in the space, scored or not."""
        return space_size(self.operation, self.digits)

    @property
    def sampled(self) -> bool:
        return len(self.a) < self.size

    def answers_to(self, qs: QuestionSet) -> np.ndarray | None:
        """The answers already computed for the questions of `qs` (all of the space scored,
        in (a, b) order), or None for a sampled space."""
        if self.sampled:
            return None
        rows = np.searchsorted(
            _pair_keys(self.a, self.b, self.digits), _pair_keys(qs.a, qs.b, self.digits)
        )
        return self.predicted[rows]


def space_operands(
    op: Operation, digits: int, limit: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair of operands below 10**digits that `op` allows, or a stratified
    sample of `limit` of them."""
    side = 10**digits
    if space_size(op, digits) <= limit:
        return op.allowed_pairs(*np.divmod(np.arange(side * side, dtype=np.int64), side))
    a, b = sample_balanced(digits, limit, np.random.default_rng(seed), op)
    order = np.lexsort((b, a))
    return a[order], b[order]


def score_space(
    trained: TrainedModel,
    sets: dict[str, QuestionSet],
    limit: int,
    seed: int,
    batch_size: int = 4096,
) -> SpaceScore:
    """Score the model on its question space; `sets` are the train, val and test splits,
    to tell which questions it trained on."""
    fmt = trained.format
    digits = fmt.digits
    a, b = space_operands(fmt.operation, digits, limit, seed)
    question, expected = question_and_answer_ids(a, b, fmt)
    predicted, _ = answer_questions(
        trained.model, question, fmt.answer_width, batch_size, share_prefixes=True
    )
    del question
    split = np.zeros(len(a), dtype=np.int8)
    keys = _pair_keys(a, b, digits)
    for name in ("train", "val", "test"):
        split[np.isin(keys, _pair_keys(sets[name].a, sets[name].b, digits))] = SPLITS.index(name)
    right = exact_match(predicted, expected)
    return SpaceScore(digits, a, b, predicted, expected, right, split, fmt.operation)


def _pair_keys(a: np.ndarray, b: np.ndarray, digits: int) -> np.ndarray:
    """One comparable value per ordered pair: an int64 where it fits, else a record."""
    if 2 * digits <= INT64_DIGITS:
        return a * np.int64(10**digits) + b
    pairs = np.ascontiguousarray(np.stack([a, b], 1).astype(np.int64))
    return pairs.view([("a", "<i8"), ("b", "<i8")]).ravel()


def strata_table(score: SpaceScore) -> pd.DataFrame:
    """Per operand digit-count stratum: its size, questions scored, errors, exact match;
    in stratum order (1+1, 1+2, ...)."""
    la, lb = num_digits(score.a), num_digits(score.b)
    frame = pd.DataFrame({"la": la, "lb": lb, "wrong": ~score.right})
    table = (
        frame.groupby(["la", "lb"], sort=True)["wrong"]
        .agg(scored="size", errors="sum")
        .reset_index()
    )
    table["errors"] = table["errors"].astype(int)
    table.insert(0, "digits", table["la"].astype(str) + "+" + table["lb"].astype(str))
    table["questions"] = [
        score.operation.pairs_with_digits(x, y) for x, y in zip(table["la"], table["lb"])
    ]
    table["exact_match"] = 1 - table["errors"] / table["scored"]
    return table[["digits", "questions", "scored", "errors", "exact_match"]]


def space_metrics(score: SpaceScore) -> dict:
    """The whole-space figures for metrics/evaluate.json."""
    table = strata_table(score)
    # Never trained on: neither in train nor in val (which chose the epoch kept).
    unseen = np.isin(score.split, [SPLITS.index("none"), SPLITS.index("test")])
    worst = table.sort_values(["exact_match", "questions"], kind="stable").iloc[0]
    return {
        "exact_match": _estimate(score, np.ones(len(score.a), dtype=bool)),
        "questions": score.size,
        "scored": int(len(score.a)),
        "errors": int((~score.right).sum()),
        "unseen": {
            "exact_match": _estimate(score, unseen),
            "scored": int(unseen.sum()),
            "errors": int((~score.right & unseen).sum()),
        },
        "worst": {
            "digits": str(worst["digits"]),
            "exact_match": round(float(worst["exact_match"]), 7),
        },
        "by_digits": {d: round(float(e), 7) for d, e in zip(table["digits"], table["exact_match"])},
    }


def _estimate(score: SpaceScore, mask: np.ndarray) -> float:
    """Exact match over the questions in `mask`: counted when the whole space is scored;
    when it is sampled, each stratum's rate weighted by its size (times the share of its
    sample in `mask`), since the sample gives small strata far more than their share."""
    if not mask.any():
        return 0.0
    if not score.sampled:
        return round(float(score.right[mask].mean()), 7)
    strata, stratum = np.unique(
        num_digits(score.a) * 100 + num_digits(score.b), return_inverse=True
    )
    size = np.array(
        [score.operation.pairs_with_digits(s // 100, s % 100) for s in strata.tolist()],
        dtype=np.float64,
    )
    scored = np.bincount(stratum)
    chosen = np.bincount(stratum, weights=mask)
    right = np.bincount(stratum, weights=mask & score.right)
    weight = size * chosen / scored
    rate = np.divide(right, chosen, out=np.zeros_like(right), where=chosen > 0)
    return round(float((weight * rate).sum() / weight.sum()), 7)


def error_cases(
    score: SpaceScore,
    fmt: QuestionFormat,
    test: QuestionSet,
    test_errors: pd.DataFrame,
    test_wrong: np.ndarray,
) -> pd.DataFrame:
    """Every wrong answer in the space, plus the test split's (`test_errors`, at rows
    `test_wrong` of `test`) that a sampled space left out: the worst stratum first, then by
    operands. `split` says where each question sits: train, val, test or none."""
    wrong = np.flatnonzero(~score.right)
    a, b = score.a[wrong], score.b[wrong]
    table = error_table(a, b, score.predicted[wrong], score.expected[wrong], fmt)
    table["split"] = np.asarray(SPLITS)[score.split[wrong]]
    table["a"], table["b"] = a, b
    left_out = ~np.isin(
        _pair_keys(test.a[test_wrong], test.b[test_wrong], score.digits),
        _pair_keys(a, b, score.digits),
    )
    extra = test_errors[left_out].assign(
        split="test", a=test.a[test_wrong][left_out], b=test.b[test_wrong][left_out]
    )
    table = pd.concat([table, extra], ignore_index=True) if len(extra) else table
    strata = strata_table(score)
    rank = {d: r for r, d in enumerate(strata.sort_values("exact_match", kind="stable")["digits"])}
    table["rank"] = [
        rank.get(f"{x}+{y}", len(rank)) for x, y in zip(table["a_digits"], table["b_digits"])
    ]
    table = table.sort_values(["rank", "a", "b"], kind="stable")
    return table.drop(columns=["rank", "a", "b"]).reset_index(drop=True)
