"""Score a trained model on a question set: metrics, breakdowns and error cases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .checkpoint import TrainedModel, predict_ids
from .datasets import QuestionSet
from .errors import DataFileError
from .metrics import accuracy_by, char_correct, exact_match, first_wrong_position
from .questions import count_carries, num_digits, readable_questions
from .vocab import Vocab


@dataclass
class Evaluation:
    metrics: dict
    by_carries: pd.DataFrame
    by_digits: pd.DataFrame
    errors: pd.DataFrame  # every wrong answer, in test-set order


def check_compatible(trained: TrainedModel, qs: QuestionSet, model_path, data_path) -> None:
    ours = (trained.vocab, trained.digits, trained.reverse)
    theirs = (qs.vocab, qs.digits, qs.reverse)
    if ours != theirs:
        raise DataFileError(
            f"{model_path} was trained on questions with vocabulary {trained.vocab!r}, "
            f"{trained.digits} digits, reverse={trained.reverse}, but {data_path} has "
            f"{qs.vocab!r}, {qs.digits} digits, reverse={qs.reverse}; rerun `dvc repro`"
        )


def evaluate(trained: TrainedModel, qs: QuestionSet, batch_size: int = 4096) -> Evaluation:
    pred = predict_ids(trained.model, qs.question, batch_size)
    right = exact_match(pred, qs.answer)
    carries = count_carries(qs.a, qs.b)
    a_digits, b_digits = num_digits(qs.a), num_digits(qs.b)
    digits_key = np.char.add(np.char.add(a_digits.astype(str), "+"), b_digits.astype(str))

    by_carries = accuracy_by({"carries": carries}, right)
    by_digits = accuracy_by({"digits": digits_key}, right)

    wrong = np.flatnonzero(~right)
    vocab = Vocab(trained.vocab)
    errors = pd.DataFrame(
        {
            "question": readable_questions(qs.question[wrong], vocab, qs.reverse),
            "expected": [s.strip() for s in vocab.decode(qs.answer[wrong])],
            "predicted": [s.strip() for s in vocab.decode(pred[wrong])],
            "a_digits": a_digits[wrong],
            "b_digits": b_digits[wrong],
            "carries": carries[wrong],
            "first_wrong_position": first_wrong_position(pred[wrong], qs.answer[wrong]),
        }
    )
    metrics = {
        "test": {
            "exact_match": float(right.mean()) if len(qs) else 0.0,
            "char_accuracy": float(char_correct(pred, qs.answer).mean()) if len(qs) else 0.0,
            "n_samples": int(len(qs)),
            "n_errors": int(len(wrong)),
        },
        # Exact match only; the sample counts per group are in the breakdown CSVs.
        "exact_match_by": {**_by_group(by_carries, "carries"), **_by_group(by_digits, "digits")},
    }
    return Evaluation(metrics=metrics, by_carries=by_carries, by_digits=by_digits, errors=errors)


def _by_group(table: pd.DataFrame, key: str) -> dict:
    # Keys such as "carries_2" rather than "2": `dvc metrics show` flattens nested keys
    # with dots, and bare numbers there read like decimals.
    return {
        f"{key}_{group}": round(float(exact), 6)
        for group, exact in zip(table[key], table["exact_match"])
    }
