"""Score a trained model on a question set: metrics, breakdowns and error cases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..data import question_set
from ..data.question_format import QuestionFormat, check_same
from ..data.question_set import QuestionSet
from ..data.questions import count_carries, num_digits
from ..model.answering import answer_questions
from ..model.model_file import TrainedModel
from .metrics import exact_match, headline_first, mean_scores

NOT_APPLICABLE = "not applicable"


@dataclass
class Evaluation:
    metrics: dict
    by_carries: pd.DataFrame  # empty unless the operation is addition
    by_digits: pd.DataFrame
    errors: pd.DataFrame  # every wrong answer, in test-set order
    wrong: np.ndarray  # their rows in the test set


def evaluate(
    trained: TrainedModel,
    qs: QuestionSet,
    batch_size: int = 4096,
    predicted: np.ndarray | None = None,
) -> Evaluation:
    """Score `qs`; `predicted`, if given, are the model's answers to it, already computed."""
    pred = (
        answer_questions(trained.model, qs.question, qs.answer.shape[1], batch_size)[0]
        if predicted is None
        else predicted
    )
    right = exact_match(pred, qs.answer)
    a_digits, b_digits = num_digits(qs.a), num_digits(qs.b)
    digits_key = np.char.add(np.char.add(a_digits.astype(str), "+"), b_digits.astype(str))
    by_digits = accuracy_by({"digits": digits_key}, right)
    # Carries are counted for addition only; other operations get the header only.
    if qs.format.operation.carries_counted:
        by_carries = accuracy_by({"carries": count_carries(qs.a, qs.b)}, right)
    else:
        by_carries = pd.DataFrame({"carries": [], "n": [], "exact_match": []})

    wrong = np.flatnonzero(~right)
    errors = error_table(qs.a[wrong], qs.b[wrong], pred[wrong], qs.answer[wrong], qs.format)
    metrics = {
        "test": {
            **headline_first(mean_scores(pred, qs.answer)),
            "n_samples": int(len(qs)),
            "n_errors": int(len(wrong)),
        },
        # Exact match only; the sample counts per group are in the breakdown CSVs.
        "exact_match_by": {**_by_group(by_carries, "carries"), **_by_group(by_digits, "digits")},
    }
    return Evaluation(
        metrics=metrics, by_carries=by_carries, by_digits=by_digits, errors=errors, wrong=wrong
    )


def error_table(
    a: np.ndarray, b: np.ndarray, predicted: np.ndarray, expected: np.ndarray, fmt: QuestionFormat
) -> pd.DataFrame:
    """One row per question, as a person reads it; callers pass the wrong answers.

    `carries` is -1 for operations other than addition, where carries say little."""
    carries = count_carries(a, b) if fmt.operation.carries_counted else np.full(len(a), -1)
    vocab = fmt.vocab
    return pd.DataFrame(
        {
            "question": [f"{x}{fmt.symbol}{y}" for x, y in zip(a.tolist(), b.tolist())],
            "expected": [s.strip() for s in vocab.texts(expected)],
            "predicted": [s.strip() for s in vocab.texts(predicted)],
            "a_digits": num_digits(a),
            "b_digits": num_digits(b),
            "carries": carries,
            "first_wrong_position": first_wrong_position(predicted, expected),
        }
    )


def first_wrong_position(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Index of the first wrong character per row, -1 where the row is right."""
    wrong = pred != target
    return np.where(wrong.any(-1), wrong.argmax(-1), -1)


def evaluate_longer(trained: TrainedModel, model_path, folder, batch_size: int = 4096) -> dict:
    """Exact match on each held-out set of longer questions in `folder`, by its name."""
    results = {}
    for path, qs in question_set.load_longer(folder).items():
        check_same(trained.format, model_path, qs.format, path, any_digits=True)
        results[path.stem] = longer_exact_match(trained, qs, batch_size)
    return results


def longer_exact_match(
    trained: TrainedModel, qs: QuestionSet, batch_size: int = 4096
) -> float | str:
    """Exact match on questions longer than any seen in training, or NOT_APPLICABLE: where
    the model cannot read them, or refuses any of them (model.refuses)."""
    if not trained.model.reads_longer_input:
        return NOT_APPLICABLE
    lengths = {(len(str(a)), len(str(b))) for a, b in zip(qs.a.tolist(), qs.b.tolist())}
    if any(trained.model.refuses(*pair) for pair in lengths):
        return NOT_APPLICABLE
    pred, _ = answer_questions(trained.model, qs.question, qs.format.answer_width, batch_size)
    return round(float(exact_match(pred, qs.answer).mean()), 6)


def _by_group(table: pd.DataFrame, key: str) -> dict:
    # Keys such as "carries_2" rather than "2": `dvc metrics show` flattens nested keys
    # with dots, and bare numbers there read like decimals.
    return {
        f"{key}_{group}": round(float(exact), 6)
        for group, exact in zip(table[key], table["exact_match"])
    }


def accuracy_by(groups: dict[str, np.ndarray], correct: np.ndarray) -> pd.DataFrame:
    """Exact match and sample count per group, sorted by the group keys."""
    frame = pd.DataFrame({**groups, "correct": correct.astype(float)})
    table = (
        frame.groupby(list(groups), sort=True)["correct"]
        .agg(n="size", exact_match="mean")
        .reset_index()
    )
    table["n"] = table["n"].astype(int)
    return table
