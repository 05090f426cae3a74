"""What the digit-column architectures (`aligned`, `columns`) share: the question's
characters parsed into the operands' digits, least significant first, and the answer's
characters into digits and back.

Parsing here keeps data files, training, evaluation and predict those of every other
architecture: the models read and write the same character ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..pipeline.config import check_int
from .architecture import MAX_LAYERS, MAX_WIDTH, NetConfig, check_weights
from .base import ModelSpec, Network


def mlp(inputs: int, hidden: int, layers: int) -> nn.Sequential:
    parts, width = [], inputs
    for _ in range(layers):
        parts += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    return nn.Sequential(*parts)


def mlp_weights(inputs: int, hidden: int, layers: int) -> int:
    """The weight count of `mlp(inputs, hidden, layers)`."""
    return (inputs * hidden + hidden) + (layers - 1) * (hidden * hidden + hidden)


@dataclass(frozen=True)
class StepConfig(NetConfig):
    """The section of a digit-column architecture (aligned, columns): the size of its step
    networks, each an `mlp` with learned embeddings of its inputs."""

    hidden_size: int  # units of each hidden layer of a step network
    layers: int  # hidden layers of each step network
    pair_dim: int  # the learned embedding of a digit pair, and of each digit and carry

    def validate(self) -> None:
        check_int(f"{self.arch}.hidden_size", self.hidden_size, 1, MAX_WIDTH)
        check_int(f"{self.arch}.layers", self.layers, 1, MAX_LAYERS)
        check_int(f"{self.arch}.pair_dim", self.pair_dim, 1, MAX_WIDTH)
        check_weights(self.arch, self.weights())

    def weights(self) -> int:
        """The network's weight count, exactly (each architecture's own)."""
        raise NotImplementedError


def every_input(carries: int, device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every input of a step that reads two digits and a carry below `carries`: the rows
    of its table, in the order `input_index` gives them."""
    d = torch.arange(10, device=device)
    return torch.cartesian_prod(d, d, d[:carries]).unbind(1)


def input_index(
    x: torch.Tensor, y: torch.Tensor, carry: torch.Tensor, carries: int
) -> torch.Tensor:
    """The row of `every_input(carries)` that holds (x, y, carry)."""
    return (10 * x + y) * carries + carry


def chosen(**logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """For each named output's logits, the class chosen and (as `<name>_logp`) its
    log-probability: a step's table, looked up instead of running its network."""
    out = {}
    for name, value in logits.items():
        best = value.log_softmax(-1).max(-1)
        out[name], out[f"{name}_logp"] = best.indices, best.values
    return out


def step_weights(carries_in: int, carries_out: int, dim: int, hidden: int, layers: int) -> int:
    """The weight count of `DigitStep(carries_in, carries_out, dim, hidden, layers)` (and
    of columns' times step, laid out alike)."""
    embeddings = (100 + carries_in) * dim
    return embeddings + mlp_weights(2 * dim, hidden, layers) + (hidden + 1) * (10 + carries_out)


class DigitStep(nn.Module):
    """One learned step of column arithmetic: a digit pair and a carry in (embedded), an
    MLP, and the logits of the digit it writes and of the carry it hands on."""

    def __init__(self, carries_in: int, carries_out: int, dim: int, hidden: int, layers: int):
        super().__init__()
        self.pair = nn.Embedding(100, dim)  # digit pair (x, y) -> 10 * x + y
        self.carry = nn.Embedding(carries_in, dim)
        self.net = mlp(2 * dim, hidden, layers)
        self.digit_head, self.carry_head = nn.Linear(hidden, 10), nn.Linear(hidden, carries_out)

    def forward(self, x, y, carry) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.net(torch.cat([self.pair(10 * x + y), self.carry(carry)], -1))
        return self.digit_head(z).float(), self.carry_head(z).float()


class DigitColumns(Network):
    reads_longer_input = True
    any_length = True

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        fmt = spec.questions
        op = fmt.operation
        vocab = fmt.vocab
        digit_of = torch.full((len(vocab),), -1, dtype=torch.long)
        for d in range(10):
            digit_of[vocab.chars.index(str(d))] = d
        # Character id -> digit value (-1: not a digit); the inverse for writing answers.
        self.register_buffer("digit_of", digit_of, persistent=False)
        self.register_buffer(
            "digit_id", torch.tensor(vocab.ids("0123456789"), dtype=torch.long), persistent=False
        )
        self.symbol_id = vocab.chars.index(op.symbol)
        self.signed = op.signed
        self.minus_id = vocab.chars.index("-") if op.signed else None

    def operands(self, question: torch.Tensor):
        """The digits of each operand, least significant first, as (batch, places) arrays
        zero-padded to one more place than the question's longest operand can have (a
        sum's final carry), and each operand's digit count."""
        q = question.long()
        if self.spec.questions.reverse:
            q = q.flip(1)
        n, width = q.shape
        places = (width - 1) // 2 + 1
        pos = torch.arange(width, device=q.device)
        digit = self.digit_of[q]
        op = (q == self.symbol_id).int().argmax(1, keepdim=True)
        end = (q != self.pad_id).sum(1, keepdim=True)
        in_a = pos < op
        in_b = (pos > op) & (pos < end)
        place = torch.where(in_a, op - 1 - pos, end - 1 - pos)
        out = []
        for mask in (in_a, in_b):
            cols = q.new_zeros(n, places + 1)
            # Characters of the other operand land in the spare last column, then dropped.
            cols.scatter_(1, torch.where(mask, place, places), torch.where(mask, digit, 0))
            out.append(cols[:, :places])
        return out[0], out[1], op.squeeze(1), (end - op - 1).squeeze(1)

    def targets(self, answer: torch.Tensor, places: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Answer characters -> (batch, places) digits least significant first, and
        whether each answer is negative."""
        answer = answer.long()
        digit = self.digit_of[answer]
        count = (digit >= 0).sum(1, keepdim=True)
        negative = (
            answer[:, 0] == self.minus_id
            if self.signed
            else torch.zeros_like(answer[:, 0], dtype=torch.bool)
        )
        i = torch.arange(places, device=answer.device)
        col = (negative.long().unsqueeze(1) + count - 1 - i).clamp(0, answer.shape[1] - 1)
        return torch.where(i < count, digit.gather(1, col), 0), negative

    def characters_of(
        self, digits: torch.Tensor, negative: torch.Tensor, width: int
    ) -> torch.Tensor:
        """Digits least significant first and signs -> answer character ids, leading zeros
        dropped, padded or cut to `width`."""
        n, places = digits.shape
        i = torch.arange(places, device=digits.device)
        count = torch.where(digits != 0, i + 1, 1).max(1, keepdim=True).values  # at least "0"
        sign = negative.long().unsqueeze(1)
        j = torch.arange(width, device=digits.device)
        place = (count - 1 - (j - sign)).clamp(0, places - 1)
        ids = self.digit_id[digits.gather(1, place)]
        ids = torch.where(j < sign + count, ids, self.pad_id)
        if self.signed:
            ids = torch.where((j == 0) & (sign == 1), self.minus_id, ids)
        return ids
