"""What training prints: the reference's per-epoch report (random validation questions
with a tick or a cross) and messages to the user, once, from the first process."""

from __future__ import annotations

import os
import sys
from functools import partial

import numpy as np
from pytorch_lightning.utilities import rank_zero_only

from ..data.question_set import QuestionSet
from ..data.questions import readable_questions
from ..evaluation.metrics import HEADLINE, METRICS
from ..model.answering import answer_questions

_GREEN, _RED, _RESET = "\033[92m", "\033[91m", "\033[0m"
# The figures of each epoch's line: the loss and the headline on training batches, the
# loss and every metric on validation.
EPOCH_SUMMARY = (
    "train/loss",
    f"train/{HEADLINE}",
    "val/loss",
    *(f"val/{name}" for name in METRICS),
)

# A message to the user, printed by the first process only: under DDP every process runs
# the training code.
say = rank_zero_only(partial(print, flush=True))


def use_color(stream=sys.stdout) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ


def format_sample(question: str, expected: str, guess: str, width: int, color: bool) -> str:
    right = expected == guess
    mark = "☑" if right else "☒"
    if color:
        mark = f"{_GREEN if right else _RED}{mark}{_RESET}"
    return f"Q {question:<{width}} T {expected:<{len(guess)}} {mark} {guess}"


def epoch_report(
    epoch: int,
    max_epochs: int,
    metrics: dict,
    model,
    val: QuestionSet,
    n: int,
    seed: int,
    color: bool,
) -> list[str]:
    """The lines printed after an epoch: its metrics, then `n` random validation questions
    with the expected answer, a tick or a cross, and the model's guess."""
    summary = "  ".join(
        f"{name} {float(metrics[name]):.4f}" for name in EPOCH_SUMMARY if name in metrics
    )
    lines = [f"Epoch {epoch}/{max_epochs}  {summary}"]
    if n == 0:
        return lines
    # A private generator: drawing samples must not disturb the training RNG stream.
    rng = np.random.default_rng([seed, epoch])
    idx = np.sort(rng.choice(len(val), size=min(n, len(val)), replace=False))
    fmt = val.format
    guesses = fmt.vocab.texts(answer_questions(model, val.question[idx], fmt.answer_width)[0])
    expected = fmt.vocab.texts(val.answer[idx])
    questions = readable_questions(val.question[idx], fmt)
    width = fmt.question_width
    lines += [format_sample(q, t, g, width, color) for q, t, g in zip(questions, expected, guesses)]
    return lines
