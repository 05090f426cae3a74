"""The reference's per-epoch printout: random validation questions with a tick or a cross."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytorch_lightning as pl

from .checkpoint import predict_ids
from .questions import readable_questions
from .vocab import Vocab

_GREEN, _RED, _RESET = "\033[92m", "\033[91m", "\033[0m"


def use_color(stream=sys.stdout) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return stream.isatty() and "NO_COLOR" not in os.environ


def format_sample(question: str, expected: str, guess: str, width: int, color: bool) -> str:
    right = expected == guess
    mark = "☑" if right else "☒"
    if color:
        mark = f"{_GREEN if right else _RED}{mark}{_RESET}"
    return f"Q {question:<{width}} T {expected:<{len(guess)}} {mark} {guess}"


class SamplePrinter(pl.Callback):
    """After every validation epoch, print `n` random validation questions and guesses."""

    def __init__(self, n: int, seed: int, color: bool | None = None):
        self.n = n
        self.seed = seed
        self.color = use_color() if color is None else color

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.n == 0:
            return
        val = trainer.datamodule.val_set
        # A private generator: drawing samples must not disturb the training RNG stream.
        rng = np.random.default_rng([self.seed, trainer.current_epoch])
        idx = np.sort(rng.choice(len(val), size=min(self.n, len(val)), replace=False))
        vocab = Vocab(val.vocab)
        guesses = vocab.decode(predict_ids(pl_module.model, val.question[idx]))
        expected = vocab.decode(val.answer[idx])
        questions = readable_questions(val.question[idx], vocab, val.reverse)
        width = 2 * val.digits + 1
        pl_module.print(f"\nEpoch {trainer.current_epoch + 1}: {len(idx)} validation samples")
        for q, t, g in zip(questions, expected, guesses):
            pl_module.print(format_sample(q, t, g, width, self.color))
