"""Product columns: long multiplication as it is done on paper, in steps whose every input
and output is a digit or a small carry, whatever the operands' lengths.

A product a x b is the sum of the rows a x b_j, each shifted j places. Row j walks the
places i of a, least significant first, and at each one

- multiplies: a_i * b_j plus the row's carry c (0-8) is a digit q and a new carry (the
  product of an N-digit number by one digit, whose carry never exceeds 8), then
- adds: the running total's digit r at place i + j, plus q, plus the adding carry k (0 or
  1), is the new digit there and a new k.

Two small networks learn these two steps, the same for every place of every row: `times`
reads the digit pair (a_i, b_j) and c and writes q and the next c; `plus` reads r, q and k
and writes the new digit and the next k. Nothing of the times table or of adding is written
into them; what is fixed is the shape of long multiplication and that each step hands on
only digits and carries. Every step of a 100-digit product meets values a 3-digit product
showed: no sum of many terms (the previous design added one embedding per digit pair of a
column: 4x4 products 83%, 10x10 0.15%), and no carry that grows with the length (its carry
class out of 64 put a bound on the operands).

- Training feeds every step its true inputs (q, r and the carries computed from the
  operands, as the answer is; as a decoder is fed the true previous character) and asks
  for its true outputs: every step of every question trains at once, with no recurrence.
- Answering runs the steps in order. Step (j, i) needs the digit row j - 1 wrote at place
  i + j (its step (j - 1, i + 1)) and the carries of step (j, i - 1): all steps on one
  diagonal 2j + i = t run at once, so an N x M product takes N + 2M rounds, not N x M,
  with the shorter operand as M. Each step is looked up in a table of what the networks
  choose for every input they can be given (1,100 inputs in all).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .architecture import Architecture
from .base import ModelSpec
from .digit_columns import (
    DigitColumns,
    StepConfig,
    chosen,
    every_input,
    input_index,
    mlp,
    mlp_weights,
    step_weights,
)

TIMES_CARRIES = 9  # a_i * b_j + c <= 81 + 8: carries 0-8
PLUS_CARRIES = 2  # r + q + k <= 9 + 9 + 1: carries 0-1


def schoolbook(a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
    """Long multiplication of digit rows a (batch, N) and b (batch, M), least significant
    first, written out step by step: for every step (j, i), i in 0..N + 1, what it reads
    (a_i, b_j, c, r, k), the product digit q it adds, and what it writes (the next c, the
    new digit at place i + j, the next k), each (batch, M, N + 2); and the product's
    digits (batch, N + M)."""
    n, width = a.shape
    rows = b.shape[1]
    a = F.pad(a, (0, 2))  # places N, N + 1: where a row's last carries land
    total = a.new_zeros(n, width + rows + 1)
    names = ("c", "q", "r", "k", "next_c", "digit", "next_k")
    steps = {name: a.new_zeros(n, rows, width + 2) for name in names}
    for j in range(rows):
        c = k = a.new_zeros(n)
        for i in range(width + 2):
            product = a[:, i] * b[:, j] + c
            q, r = product % 10, total[:, i + j]
            added = r + q + k  # (r is a view of the total: add before writing)
            for name, value in zip(names, (c, q, r, k, product // 10, added % 10, added // 10)):
                steps[name][:, j, i] = value
            c, k = product // 10, added // 10
            total[:, i + j] = added % 10
    return {
        **steps,
        "a": a.unsqueeze(1).expand(n, rows, width + 2),
        "b": b.unsqueeze(2).expand(n, rows, width + 2),
        "product": total[:, : width + rows],
    }


@dataclass(frozen=True)
class ColumnsConfig(StepConfig):
    """columns: long multiplication, one network for every step of it (a digit pair, the
    running total's digit and the carry in; the new digit and the carry out)."""

    # hidden_size, layers: of each of its two step networks (times and plus); pair_dim: the
    # embedding of a digit pair (a_i, b_j), and of a digit and a carry.

    def weights(self) -> int:
        """The network's weight count, exactly: the embeddings of the 100 digit pairs, 9
        row carries, 2 x 10 digits and 2 adding carries; then the times and the plus
        networks, each `layers` hidden layers and two heads (10 and 9 classes; 10 and 2)."""
        h, d = self.hidden_size, self.pair_dim
        times = step_weights(TIMES_CARRIES, TIMES_CARRIES, d, h, self.layers)
        plus = (20 + PLUS_CARRIES) * d + mlp_weights(3 * d, h, self.layers)
        return times + plus + (h + 1) * (10 + PLUS_CARRIES)


class ProductColumns(DigitColumns):
    # Training feeds the true running totals and carries: validation answers as predict does.
    teacher_forced = True

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        cfg = spec.config
        d, h = cfg.pair_dim, cfg.hidden_size
        self.pair = nn.Embedding(100, d)  # digit pair (a_i, b_j) -> 10 * a_i + b_j
        self.times_carry = nn.Embedding(TIMES_CARRIES, d)
        self.times = mlp(2 * d, h, cfg.layers)
        self.times_digit_head, self.times_carry_head = nn.Linear(h, 10), nn.Linear(h, TIMES_CARRIES)
        self.total_digit, self.added_digit = nn.Embedding(10, d), nn.Embedding(10, d)
        self.plus_carry = nn.Embedding(PLUS_CARRIES, d)
        self.plus = mlp(3 * d, h, cfg.layers)
        self.plus_digit_head, self.plus_carry_head = nn.Linear(h, 10), nn.Linear(h, PLUS_CARRIES)

    def operands(self, question: torch.Tensor):
        a, b, a_len, b_len = super().operands(question)
        # A product has at most both operands' digits: no spare place for a final carry.
        return a[:, :-1], b[:, :-1], a_len, b_len

    def times_step(self, a, b, c) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of q (..., 10) and of the next c (..., 9) for digits a_i, b_j, carry c."""
        z = self.times(torch.cat([self.pair(10 * a + b), self.times_carry(c)], -1))
        return self.times_digit_head(z).float(), self.times_carry_head(z).float()

    def plus_step(self, r, q, k) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of the new digit (..., 10) and of the next k (..., 2) for r + q + k."""
        z = self.plus(torch.cat([self.total_digit(r), self.added_digit(q), self.plus_carry(k)], -1))
        return self.plus_digit_head(z).float(), self.plus_carry_head(z).float()

    def loss(self, question, answer):
        a, b, a_len, b_len = self.operands(question)
        book = schoolbook(a, b)
        n, rows, width = book["c"].shape
        # The steps this product takes: rows of b's digits, places up to a's last carries.
        # The others only copy a digit, and would outnumber them.
        taken = (torch.arange(rows, device=a.device)[None, :, None] < b_len[:, None, None]) & (
            torch.arange(width, device=a.device)[None, None, :] <= a_len[:, None, None] + 1
        )
        step = {name: value[taken] for name, value in book.items() if name != "product"}
        logits = {
            **dict(zip(("q", "next_c"), self.times_step(step["a"], step["b"], step["c"]))),
            **dict(zip(("digit", "next_k"), self.plus_step(step["r"], step["q"], step["k"]))),
        }
        loss = sum(F.cross_entropy(value, step[name]) for name, value in logits.items())
        # The answer the steps write when fed their true inputs: the true product, unless
        # a step of any kind chose wrong, which marks the answer wrong.
        wrong = torch.stack([value.argmax(-1) != step[name] for name, value in logits.items()]).any(
            0
        )
        any_wrong = torch.zeros(n, rows, width, dtype=torch.bool, device=a.device)
        any_wrong[taken] = wrong
        digits = torch.where(
            any_wrong.any((1, 2))[:, None], (book["product"] + 1) % 10, book["product"]
        )
        none = torch.zeros_like(a_len, dtype=torch.bool)
        return loss, self.characters_of(digits, none, answer.shape[1])

    def read(self, question):
        return self.operands(question)

    def step_tables(self) -> dict[str, torch.Tensor]:
        """Each step network on every input it can be given (900 for times, 200 for plus):
        the output it chooses and the log-probability of that choice. Answering looks the
        steps up here instead of running the networks round after round: the same answers,
        at the cost of table lookups."""
        device = self.pair.weight.device
        q, c = self.times_step(*every_input(TIMES_CARRIES, device))
        digit, k = self.plus_step(*every_input(PLUS_CARRIES, device))
        return chosen(q=q, c=c, digit=digit, k=k)

    def write(self, reading, question, answer_width):
        """The steps in order, diagonal after diagonal; the confidence is the product of
        the probabilities of every step's chosen outputs."""
        a, b, a_len, b_len = reading
        n = a.shape[0]
        # The shorter operand gives the rows: an N x M product takes N + 2M rounds.
        swap = b_len > a_len
        a, b = torch.where(swap[:, None], b, a), torch.where(swap[:, None], a, b)
        a_len, b_len = torch.where(swap, b_len, a_len), torch.where(swap, a_len, b_len)
        width, rows = int(a_len.max()), max(int(b_len.max()), 1)
        a, b = F.pad(a[:, :width], (0, 2)), b[:, :rows]
        table = self.step_tables()
        total = a.new_zeros(n, width + rows + 2)
        c = a.new_zeros(n, rows)
        k = a.new_zeros(n, rows)
        log_confidence = torch.zeros(n, device=a.device)
        j_all = torch.arange(rows, device=a.device)
        for t in range(width + 2 + 2 * (rows - 1)):
            i_all = t - 2 * j_all
            on = (i_all >= 0) & (i_all <= width + 1)
            j, i = j_all[on], i_all[on]
            # Rows past b's digits, and places past a row's last carries, change nothing.
            live = (j[None, :] < b_len[:, None]) & (i[None, :] <= a_len[:, None] + 1)
            times = input_index(a[:, i], b[:, j], c[:, j], TIMES_CARRIES)
            q = table["q"][times]
            plus = input_index(total[:, i + j], q, k[:, j], PLUS_CARRIES)
            total[:, i + j] = torch.where(live, table["digit"][plus], total[:, i + j])
            c[:, j] = torch.where(live, table["c"][times], c[:, j])
            k[:, j] = torch.where(live, table["k"][plus], k[:, j])
            logp = (
                table["q_logp"][times]
                + table["c_logp"][times]
                + table["digit_logp"][plus]
                + table["k_logp"][plus]
            )
            log_confidence += (logp * live).sum(1)
        digits = F.pad(total[:, : width + rows], (0, max(0, answer_width - width - rows)))
        negative = torch.zeros(n, dtype=torch.bool, device=a.device)
        return self.characters_of(digits, negative, answer_width), log_confidence.exp()


ARCHITECTURE = Architecture("columns", ProductColumns, ColumnsConfig, operations=("mul",))
