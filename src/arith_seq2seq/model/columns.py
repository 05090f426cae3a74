"""Product columns: multiplication laid out as schoolbook long multiplication lays it out.

A product's digit k is the sum of every digit product a_i * b_j with i + j = k (column k
of the lattice), plus the carry from column k - 1, modulo 10. This network reads exactly
that. Column k's input is the sum of a learned embedding of every digit pair (a_i, b_j)
with i + j = k. One network, the same for every column, reads that input and the carry
coming in, and writes the column's product digit and the carry going out. The columns are
answered least significant first, each one's carry going into the next.

Nothing about the times table or carries is written into the network: the pair embedding
must learn what a pair contributes, the column network the sum's digit and carry. What is
fixed is the shape of long multiplication: the only thing passed from column to column is
the carry, a class (0 to CARRY_CLASSES - 1) that the network chooses.

- Training feeds each column the true carry (computed from the operands, as the answer
  is) and asks for the digit and the carry out, as a decoder is fed the true previous
  character. So every column of every question trains at once, with no recurrence.
- A carry is a class, not a vector a recurrent cell adds to: the 100th column of a long
  N-digit by 1-digit product meets the carries of 0 to 8 the 3-digit ones showed it, not a
  state 100 steps of drift away. Measured (docs/multiplication.md): N x 1 products at
  100 digits 28-38% with an LSTM over the columns, 100% with the carry as the state.
- Only the operands' own digits make pairs: the leading zeros of a padded operand would
  add a pair per column for every padding place.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..pipeline.params import ColumnsNet
from .base import ModelSpec
from .digit_columns import DigitColumns

# The carries a column can pass on. A column of an N x M product (M <= N) sums at most M
# digit products of at most 81, so by induction its carry out is below 9 * M: 3x3-digit
# questions carry at most 26, and every product whose shorter operand has up to 7 digits
# fits. Others may carry more, which the network cannot say: it refuses them (refuses).
CARRY_CLASSES = 64
SHORTER_OPERAND_AT_MOST = CARRY_CLASSES // 9
assert ColumnsNet.shorter_operand_at_most == SHORTER_OPERAND_AT_MOST  # the bound data.digits is checked against


def lattice(a_len: torch.Tensor, b_len: torch.Tensor, places: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For every place pair (i, j): whether both are digits of their operands (batch,
    places, places), and its column i + j (places, places)."""
    i = torch.arange(places, device=a_len.device)
    real = (i < a_len[:, None]).unsqueeze(2) & (i < b_len[:, None]).unsqueeze(1)
    return real, i[:, None] + i[None, :]


class ProductColumns(DigitColumns):
    # Training feeds the true carries: validation answers as predict does.
    teacher_forced = True

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        cfg = spec.config
        d, h = cfg.pair_dim, cfg.hidden_size
        self.pair = nn.Embedding(100, d)  # digit pair (a_i, b_j) -> 10 * a_i + b_j
        self.carry = nn.Embedding(CARRY_CLASSES, d)
        layers, width = [], 2 * d
        for _ in range(cfg.layers):
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.column = nn.Sequential(*layers)
        self.digit_head = nn.Linear(h, 10)
        self.carry_head = nn.Linear(h, CARRY_CLASSES)

    def refuses(self, a_digits: int, b_digits: int) -> str | None:
        shorter = min(a_digits, b_digits)
        if shorter <= SHORTER_OPERAND_AT_MOST:
            return None
        return (
            f"both operands have more than {SHORTER_OPERAND_AT_MOST} digits; the columns architecture answers products "
            f"whose shorter operand has at most {SHORTER_OPERAND_AT_MOST} (longer ones can carry more into a column "
            f"than its {CARRY_CLASSES} carry classes)"
        )

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

    def step(self, inputs: torch.Tensor, carry_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Digit logits (..., 10) and carry-out logits (..., CARRY_CLASSES) of columns
        with these inputs and these carries coming in."""
        z = self.column(torch.cat([inputs, self.carry(carry_in)], -1))
        return self.digit_head(z).float(), self.carry_head(z).float()

    @staticmethod
    def carries(a, b, a_len, b_len, columns: int) -> torch.Tensor:
        """(batch, columns + 1) the carry into each column of the schoolbook product, and
        out of the last one: computed as the answer is, from the operands."""
        n, places = a.shape
        real, column = lattice(a_len, b_len, places)
        products = (a.unsqueeze(2) * b.unsqueeze(1) * real).flatten(1)
        sums = a.new_zeros(n, columns).index_add_(1, column.flatten(), products)
        carry, out = a.new_zeros(n), []
        for k in range(columns):
            out.append(carry)
            carry = (sums[:, k] + carry) // 10
        return torch.stack(out + [carry], 1)

    def loss(self, question, answer):
        a, b, a_len, b_len = self.operands(question)
        inputs = self.column_inputs(a, b, a_len, b_len)
        carry = self.carries(a, b, a_len, b_len, inputs.shape[1]).clamp(max=CARRY_CLASSES - 1)
        digit_logits, carry_logits = self.step(inputs, carry[:, :-1])
        digits, _ = self.targets(answer, inputs.shape[1])
        loss = F.cross_entropy(digit_logits.flatten(0, 1), digits.flatten()) + F.cross_entropy(
            carry_logits.flatten(0, 1), carry[:, 1:].flatten()
        )
        none = torch.zeros_like(a_len, dtype=torch.bool)
        return loss, self.characters_of(digit_logits.argmax(-1), none, answer.shape[1])

    def read(self, question):
        a, b, a_len, b_len = self.operands(question)
        return self.column_inputs(a, b, a_len, b_len)

    def write(self, reading, question, answer_len):
        """Column after column, each one's chosen carry going into the next; the
        confidence is the product of every chosen digit's and carry's probability."""
        n, columns, _ = reading.shape
        carry = torch.zeros(n, dtype=torch.long, device=reading.device)
        log_confidence = torch.zeros(n, device=reading.device)
        digits = []
        for k in range(columns):
            digit_logits, carry_logits = self.step(reading[:, k], carry)
            digit = digit_logits.log_softmax(-1).max(-1)
            chosen = carry_logits.log_softmax(-1).max(-1)
            digits.append(digit.indices)
            log_confidence += digit.values + chosen.values
            carry = chosen.indices
        negative = torch.zeros(n, dtype=torch.bool, device=reading.device)
        return self.characters_of(torch.stack(digits, 1), negative, answer_len), log_confidence.exp()
