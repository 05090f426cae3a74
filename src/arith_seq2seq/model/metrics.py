"""Scoring predictions against answers. Pure functions over numpy arrays or torch tensors.

Exact match (every character of the answer right) is the honest metric: per-character
accuracy rewards a model for the padding it gets right for free, and a sum that is wrong
in one digit is wrong.
"""

from __future__ import annotations

import numpy as np


def exact_match(pred, target):
    """Per row: is every position right? Works for numpy arrays and torch tensors."""
    return (pred == target).all(-1)


def char_correct(pred, target):
    return pred == target


def first_wrong_position(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Index of the first wrong character per row, -1 where the row is right."""
    wrong = pred != target
    return np.where(wrong.any(-1), wrong.argmax(-1), -1)
