"""Digit-aligned columns: a sum or difference written as it is on paper, one column at a
time, least significant first, each column a learned step whose inputs and outputs are
digits and a carry, so a question of any length takes the steps a 3-digit one does.

A step reads the column's digit pair (a_i, b_i) and the carry coming in (0 or 1) and
writes the column's digit and the carry going out: a_i + b_i + c for a sum; for a
difference, a_i - b_i - c, the carry a borrow. Nothing of adding or borrowing is written
into the network; what is fixed is that each column hands the next only a carry of two
values. (The design before this one passed a learned binary state instead, and came out
of training a slightly different machine for every seed: at 100 digits 99.5-100% of sums
and 96.75-99.95% of differences. docs/length-generalisation.md has it, with figures.)

- Training feeds every column its true carry (computed from the operands, as a decoder is
  fed the true previous character) and asks for its true digit and carry: every column of
  every question trains at once, with no recurrence.
- Answering runs the columns in order, looking each step up in a table of what the network
  chooses for all 200 inputs. If the table is right, every question of every length is.
- A difference's sign is the borrow out of the last column of a - b (a < b exactly when
  a - b borrows past its most significant digit); where it is set, the same steps over
  b - a write the digits of |a - b|.

The question's characters are parsed into columns here and the answer's digits written
back into characters, so data files, training, evaluation and predict are those of every
other architecture.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .architecture import Architecture
from .base import ModelSpec
from .digit_columns import (
    DigitColumns,
    DigitStep,
    StepConfig,
    chosen,
    every_input,
    input_index,
    step_weights,
)

CARRIES = 2  # a_i + b_i + c <= 19 and a_i - b_i - c >= -10: carries and borrows 0-1


def column(a, b, carry, signed: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """One column done exactly: the digit and the carry out of a + b + carry (or, `signed`,
    the digit and the borrow out of a - b - carry)."""
    total = a - b - carry if signed else a + b + carry
    return total % 10, (total < 0).long() if signed else total // 10


def column_steps(a: torch.Tensor, b: torch.Tensor, signed: bool) -> dict[str, torch.Tensor]:
    """A sum (or, `signed`, a difference a - b) of digit rows (batch, places), least
    significant first, written out column by column: the carry each column reads, the
    digit and the carry it writes, each (batch, places). The last column's carry out of a
    difference is 1 exactly when a < b (the digits are then those of 10**places + a - b)."""
    carry = torch.zeros_like(a[:, 0])
    steps = {"c": [], "digit": [], "next_c": []}
    for i in range(a.shape[1]):
        steps["c"].append(carry)
        digit, carry = column(a[:, i], b[:, i], carry, signed)
        steps["digit"].append(digit)
        steps["next_c"].append(carry)
    return {name: torch.stack(value, 1) for name, value in steps.items()}


@dataclass(frozen=True)
class AlignedConfig(StepConfig):
    """aligned: one network for every column of a sum or difference (a digit pair and the
    carry in; the column's digit and the carry out)."""

    # hidden_size, layers: of its one step network; pair_dim: the embedding of a digit pair
    # (a_i, b_i), and of a carry.

    def weights(self) -> int:
        """The network's weight count, exactly: the embeddings of the 100 digit pairs and 2
        carries, `layers` hidden layers and two heads (10 and 2)."""
        return step_weights(CARRIES, CARRIES, self.pair_dim, self.hidden_size, self.layers)


class AlignedColumns(DigitColumns):
    # Training feeds the true carries: validation answers as predict does.
    teacher_forced = True

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        cfg = spec.config
        self.step = DigitStep(CARRIES, CARRIES, cfg.pair_dim, cfg.hidden_size, cfg.layers)

    def passes(self, a: torch.Tensor, b: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The operand orders a question is written in: (a, b); a difference also (b, a),
        whose digits are the answer's where a < b."""
        return [(a, b), (b, a)] if self.signed else [(a, b)]

    def loss(self, question, answer):
        a, b, a_len, b_len = self.operands(question)
        # Columns up to the longer operand's, and the one after (a sum's last carry):
        # leading zeros past it would outnumber the columns that carry.
        taken = (
            torch.arange(a.shape[1], device=a.device)[None, :]
            <= torch.maximum(a_len, b_len)[:, None]
        )
        losses, wrong, written = [], torch.zeros_like(a_len, dtype=torch.bool), []
        for x, y in self.passes(a, b):
            steps = column_steps(x, y, self.signed)
            digit, carry = self.step(x[taken], y[taken], steps["c"][taken])
            losses += [
                F.cross_entropy(digit, steps["digit"][taken]),
                F.cross_entropy(carry, steps["next_c"][taken]),
            ]
            miss = torch.zeros_like(taken)
            miss[taken] = (digit.argmax(-1) != steps["digit"][taken]) | (
                carry.argmax(-1) != steps["next_c"][taken]
            )
            wrong |= miss.any(1)
            written.append(steps)
        negative = written[0]["next_c"][:, -1].bool() if self.signed else torch.zeros_like(wrong)
        digits = torch.where(negative[:, None], written[-1]["digit"], written[0]["digit"])
        # The answer the steps write when fed their true carries: the true one, unless a
        # step chose wrong, which marks it wrong.
        digits = torch.where(wrong[:, None], (digits + 1) % 10, digits)
        return sum(losses) / len(losses), self.characters_of(digits, negative, answer.shape[1])

    def step_table(self) -> dict[str, torch.Tensor]:
        """The step on every input it can be given (`every_input`: 200): the digit and carry
        it chooses and the log-probability of each choice. Answering looks the steps up
        here: the same answers as running the network column by column."""
        digit, carry = self.step(*every_input(CARRIES, self.digit_id.device))
        return chosen(digit=digit, c=carry)

    def wrong_steps(self) -> int:
        """How many of the 200 steps the network takes wrong. With none, it answers every
        question of every length right (`bench/steps.py` prints this for a model file)."""
        with torch.no_grad():
            table = self.step_table()
        digit, carry = column(*every_input(CARRIES, self.digit_id.device), self.signed)
        return int(((table["digit"] != digit) | (table["c"] != carry)).sum())

    def read(self, question):
        a, b, _, _ = self.operands(question)
        return a, b

    def _run(self, table, a, b):
        """The columns of one pass in order: its digits, last carry and log-probability."""
        carry = torch.zeros_like(a[:, 0])
        digits, logp = [], torch.zeros(len(a), device=a.device)
        for i in range(a.shape[1]):
            step = input_index(a[:, i], b[:, i], carry, CARRIES)
            digits.append(table["digit"][step])
            carry = table["c"][step]
            logp = logp + table["digit_logp"][step] + table["c_logp"][step]
        return torch.stack(digits, 1), carry, logp

    def write(self, reading, question, answer_width):
        """The confidence is the product of the probabilities of every step's choices (a
        difference: of the pass that gives the sign, and of the one whose digits it takes)."""
        table = self.step_table()
        runs = [self._run(table, x, y) for x, y in self.passes(*reading)]
        digits, last_carry, logp = runs[0]
        negative = last_carry.bool() if self.signed else torch.zeros_like(logp, dtype=torch.bool)
        if self.signed:
            digits = torch.where(negative[:, None], runs[1][0], digits)
            logp = logp + torch.where(negative, runs[1][2], 0.0)
        return self.characters_of(digits, negative, answer_width), logp.exp()


# A product's digit depends on every column, not on a carry: `columns` answers those.
ARCHITECTURE = Architecture("aligned", AlignedColumns, AlignedConfig, operations=("add", "sub"))
