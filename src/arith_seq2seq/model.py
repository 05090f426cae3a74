"""The reference's addition RNN as a pure PyTorch module (no Lightning here).

encoder RNN over the question -> its final hidden state repeated once per answer
character -> decoder RNN stack -> a linear layer per step giving character logits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

RNN_CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


@dataclass(frozen=True)
class Seq2SeqConfig:
    vocab_size: int
    answer_len: int
    cell: str = "lstm"
    hidden_size: int = 128
    decoder_layers: int = 1
    embedding_dim: int = 0  # 0: one-hot input, as in the reference


class RepeatSeq2Seq(nn.Module):
    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        self.cfg = cfg
        rnn = RNN_CLASSES[cfg.cell]
        if cfg.embedding_dim:
            self.embed = nn.Embedding(cfg.vocab_size, cfg.embedding_dim)
            input_size = cfg.embedding_dim
        else:
            self.embed = None
            input_size = cfg.vocab_size
        self.encoder = rnn(input_size, cfg.hidden_size, batch_first=True)
        self.decoder = rnn(
            cfg.hidden_size, cfg.hidden_size, num_layers=cfg.decoder_layers, batch_first=True
        )
        self.head = nn.Linear(cfg.hidden_size, cfg.vocab_size)

    def forward(self, question: torch.Tensor) -> torch.Tensor:
        """(batch, question_len) ids -> (batch, answer_len, vocab_size) logits."""
        if self.embed is not None:
            x = self.embed(question)
        else:
            x = F.one_hot(question.long(), self.cfg.vocab_size).float()
        _, state = self.encoder(x)
        h = state[0] if isinstance(state, tuple) else state  # LSTM returns (h, c)
        # The decoder sees the same summary of the question at every output step.
        repeated = h[-1].unsqueeze(1).expand(-1, self.cfg.answer_len, -1)
        out, _ = self.decoder(repeated)
        return self.head(out)
