"""What every architecture shares: its spec, its interface and the character input layer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

RNN_CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
IGNORE = -100  # cross_entropy's ignore_index: target positions after the end token


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model; stored in the model file."""

    vocab_size: int
    answer_len: int  # characters of the longest answer in the training data
    pad_id: int
    start_id: int
    end_id: int
    arch: str = "repeat"
    cell: str = "lstm"
    hidden_size: int = 128
    decoder_layers: int = 1
    embedding_dim: int = 0  # 0: one-hot input, as in the reference


class NotApplicable(Exception):
    """The architecture cannot answer this kind of question (say, a longer answer)."""


class Seq2SeqModel(nn.Module):
    """Maps (batch, question_len) character ids to answers of padded character ids."""

    # Whether questions longer than the training ones can be answered at all.
    reads_longer_input: bool = False
    # Whether `loss` feeds the true previous character, so that its predictions are not
    # what `predict` would answer (validation then calls `predict` as well).
    teacher_forced: bool = False

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        if spec.embedding_dim:
            self.embed = nn.Embedding(spec.vocab_size, spec.embedding_dim)
            self.input_size = spec.embedding_dim
        else:
            self.embed = None
            self.input_size = spec.vocab_size

    def characters(self, ids: torch.Tensor) -> torch.Tensor:
        """Input vectors for character ids: a learned embedding or one-hot."""
        if self.embed is not None:
            return self.embed(ids)
        return F.one_hot(ids.long(), self.spec.vocab_size).float()

    def rnn(self, input_size: int, layers: int) -> nn.RNNBase:
        return RNN_CLASSES[self.spec.cell](input_size, self.spec.hidden_size, num_layers=layers, batch_first=True)

    def loss(self, question: torch.Tensor, answer: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training loss and the (teacher-forced, where that applies) predicted answer ids."""
        raise NotImplementedError

    def predict(self, question: torch.Tensor, answer_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Answer ids padded to `answer_len` and the model's confidence in each answer
        (the probability of the whole answer it chose)."""
        raise NotImplementedError
