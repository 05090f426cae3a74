"""The reference's addition RNN: the encoder's final state, repeated once per answer
character, is the decoder's input. The answer length is fixed by the architecture."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .architecture import Architecture
from .base import CharacterConfig, CharacterNetwork, ModelSpec


class RepeatNetwork(CharacterNetwork):
    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self.encoder = self.rnn(self.input_size, 1)
        self.decoder = self.rnn(spec.config.hidden_size, spec.config.layers)
        self.head = nn.Linear(spec.config.hidden_size, self.vocab_size)

    def forward(self, question: torch.Tensor) -> torch.Tensor:
        """(batch, question_len) ids -> (batch, answer_width, vocab_size) logits."""
        _, state = self.read(question)
        return self.answer_logits(state)

    def answer_logits(self, state) -> torch.Tensor:
        h = state[0] if isinstance(state, tuple) else state  # LSTM returns (h, c)
        # The decoder sees the same summary of the question at every output step.
        repeated = h[-1].unsqueeze(1).expand(-1, self.answer_width, -1)
        out, _ = self.decoder(repeated)
        return self.head(out)

    def loss(self, question, answer):
        logits = self(question)
        # Padding is part of the answer here, as in the reference: the model must say
        # where the answer ends by predicting spaces.
        loss = F.cross_entropy(logits.flatten(0, 1), self.written(answer.long()).flatten())
        return loss, self.written(logits.argmax(-1))

    def write(self, reading, question, answer_width):
        _, state = reading
        # Always self.answer_width characters: reads_longer_input is False.
        probs = self.answer_logits(state).softmax(-1)
        best = probs.max(-1)
        return self.written(best.indices), best.values.prod(-1)


# Any operation: it learns whatever characters the questions and answers are written in.
ARCHITECTURE = Architecture("repeat", RepeatNetwork, CharacterConfig, operations=None)
