"""The metrics: scoring predicted answers against the true ones, one function each.

A metric is a function of predicted and true answer ids (numpy arrays or torch tensors,
one row per question) that returns one value per item it scores: per answer (a row) or
per character. Its value over many questions is the mean over all their items, each
counted once: training's per-epoch metrics (training/module.py, summed over batches and
processes by torchmetrics), the test figures of metrics/evaluate.json
(evaluation/scoring.py) and the evaluate stage's summary line all take every metric in
METRICS, in its order. Adding one is a function here under `@metric("name")`.

Exact match (every character of the answer right) is the honest metric: per-character
accuracy rewards a model for the padding it gets right for free, and a sum that is wrong
in one digit is wrong. So it is the headline: it chooses the epoch kept, it is what an
error is, and the whole-space and longer-set figures are exact match alone.
"""

from __future__ import annotations

from collections.abc import Callable

# name -> function; the order is the order of the logged and written metrics.
METRICS: dict[str, Callable] = {}
HEADLINE = "exact_match"


def metric(name: str) -> Callable[[Callable], Callable]:
    """Register the decorated function as the metric `name` (the key it is logged and
    written under), after those registered before it."""

    def register(score: Callable) -> Callable:
        if name in METRICS:
            raise ValueError(f"metric {name!r} is registered twice")
        METRICS[name] = score
        return score

    return register


@metric("char_accuracy")
def char_correct(pred, target):
    """Per character: is it right?"""
    return pred == target


@metric(HEADLINE)
def exact_match(pred, target):
    """Per row: is every position right?"""
    return (pred == target).all(-1)


def mean_scores(pred, target) -> dict[str, float]:
    """Every metric over the rows of `pred` and `target` (numpy arrays), in METRICS's
    order; 0.0 for no rows."""
    if len(target) == 0:
        return dict.fromkeys(METRICS, 0.0)
    return {name: float(score(pred, target).mean()) for name, score in METRICS.items()}


def headline_first(values: dict) -> dict:
    """`values` by metric name, exact match first: how evaluation reports them."""
    return {HEADLINE: values[HEADLINE], **values}
