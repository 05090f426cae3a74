"""Product columns: multiplication laid out as schoolbook long multiplication lays it out.

A product's digit k is the sum of every digit product a_i * b_j with i + j = k (column k
of the lattice), plus the carry from column k - 1, modulo 10. This network reads exactly
that: the input at column k is the sum of a learned embedding of every digit pair
(a_i, b_j) with i + j = k, a recurrent cell runs over the columns least significant
first, and a head writes one product digit per column from the state coming in and the
column's input. Nothing about the times table or carries is written into the network:
the pair embedding must learn what a pair contributes, the recurrence the carries.

- Only the operands' own digits make pairs: the leading zeros of a padded operand would
  add a pair per column for every padding place, and a sum over a hundred of them drifts
  however small each is.
- Training also asks for the carry into each column (`carry_loss`, an auxiliary target
  computed from the operands like the answer is, as in Bai et al. 2025): the state must
  then hold the carry as something a linear layer reads. Measured (docs/multiplication.md):
  the whole 3x3 space 95.2% without, 96.9% with; the ten thousand questions of at most
  2 digits 415 wrong without, 9 with; N-digit by 1-digit products at 20 digits 11% without,
  72% with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import ModelSpec
from .digit_columns import CELL_CLASSES, DigitColumns

# Carries above this are one class (3x3-digit products carry at most 26).
CARRY_CLASSES = 64


def lattice(a_len: torch.Tensor, b_len: torch.Tensor, places: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For every place pair (i, j): whether both are digits of their operands (batch,
    places, places), and its column i + j (places, places)."""
    i = torch.arange(places, device=a_len.device)
    real = (i < a_len[:, None]).unsqueeze(2) & (i < b_len[:, None]).unsqueeze(1)
    return real, i[:, None] + i[None, :]


class ProductColumns(DigitColumns):
    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        cfg = spec.config
        h, d = cfg.hidden_size, cfg.pair_dim
        self.pair = nn.Embedding(100, d)  # digit pair (a_i, b_j) -> 10 * a_i + b_j
        self.cell = CELL_CLASSES[cfg.cell](d, h)
        self.head = nn.Sequential(nn.Linear(h + d, 4 * h), nn.ReLU(), nn.Linear(4 * h, 10))
        self.carry_head = nn.Linear(h, CARRY_CLASSES)

    def operands(self, question: torch.Tensor):
        a, b, a_len, b_len = super().operands(question)
        # A product has at most both operands' digits: no spare place for a final carry.
        return a[:, :-1], b[:, :-1], a_len, b_len

    def column_inputs(self, a: torch.Tensor, b: torch.Tensor, a_len: torch.Tensor, b_len: torch.Tensor) -> torch.Tensor:
        """(batch, columns, pair_dim): column k is the sum of the pair embeddings of
        (a_i, b_j), i + j = k, over the operands' own digits; one column per place of the
        longest possible product."""
        n, places = a.shape
        real, column = lattice(a_len, b_len, places)
        # How often each pair value occurs in each column, then one product with the
        # embedding table: a (batch, i, j, pair_dim) tensor of embeddings would take
        # gigabytes for two 100-digit operands.
        slot = (column * 100 + 10 * a.unsqueeze(2) + b.unsqueeze(1)).flatten(1)
        counts = self.pair.weight.new_zeros(n, 2 * places * 100)
        counts.scatter_add_(1, slot, real.flatten(1).to(counts.dtype))
        return counts.view(n, 2 * places, 100) @ self.pair.weight

    def run(self, a, b, a_len, b_len) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-column digit log-probabilities (batch, columns, 10) and the state coming
        into each column (batch, columns, hidden)."""
        inputs = self.column_inputs(a, b, a_len, b_len)
        state = self._zero_state(len(a), inputs.device)
        incoming = []
        for t in range(inputs.shape[1]):
            incoming.append(state[0] if isinstance(state, tuple) else state)
            state = self.cell(inputs[:, t], state)
        incoming = torch.stack(incoming, 1)
        return self.head(torch.cat([incoming, inputs], -1)).float().log_softmax(-1), incoming

    @staticmethod
    def carries(a, b, a_len, b_len, columns: int) -> torch.Tensor:
        """(batch, columns) the carry into each column of the schoolbook product: the
        auxiliary target, computed as the answer is, from the operands."""
        n, places = a.shape
        real, column = lattice(a_len, b_len, places)
        products = (a.unsqueeze(2) * b.unsqueeze(1) * real).flatten(1)
        sums = a.new_zeros(n, columns).index_add_(1, column.flatten(), products)
        carry, out = a.new_zeros(n), []
        for k in range(columns):
            out.append(carry)
            carry = (sums[:, k] + carry) // 10
        return torch.stack(out, 1)

    def loss(self, question, answer):
        a, b, a_len, b_len = self.operands(question)
        out, incoming = self.run(a, b, a_len, b_len)
        digits, _ = self.targets(answer, out.shape[1])
        loss = F.nll_loss(out.flatten(0, 1), digits.flatten())
        if self.config.carry_loss:
            carry = self.carries(a, b, a_len, b_len, out.shape[1]).clamp(max=CARRY_CLASSES - 1)
            logits = self.carry_head(incoming).float()
            loss = loss + self.config.carry_loss * F.cross_entropy(logits.flatten(0, 1), carry.flatten())
        pred = self.characters_of(out.argmax(-1), torch.zeros_like(a_len, dtype=torch.bool), answer.shape[1])
        return loss, pred

    def read(self, question):
        return self.operands(question)

    def write(self, reading, question, answer_len):
        best = self.run(*reading)[0].max(-1)
        negative = torch.zeros(len(question), dtype=torch.bool, device=question.device)
        return self.characters_of(best.indices, negative, answer_len), best.values.sum(-1).exp()
