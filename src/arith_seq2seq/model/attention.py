"""Encoder-decoder with attention: at every step the decoder's output attends over all
encoder outputs (multiplicative, Luong's "general" score h_dec^T W h_enc), and the
attended context joins the output before the character layer. Padding is masked out."""

from __future__ import annotations

import torch
from torch import nn

from .architecture import Architecture
from .base import CharacterConfig, ModelSpec
from .seq2seq import EncoderDecoder


class AttentionEncoderDecoder(EncoderDecoder):
    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        h = spec.config.hidden_size
        self.score = nn.Linear(h, h, bias=False)
        self.combine = nn.Linear(2 * h, h)

    def readout(self, decoded, encoded, question):
        scores = decoded @ self.score(encoded).transpose(1, 2)  # (batch, steps, question_len)
        scores = scores.masked_fill((question == self.pad_id).unsqueeze(1), float("-inf"))
        context = scores.softmax(-1) @ encoded
        return self.head(torch.tanh(self.combine(torch.cat([decoded, context], -1))))


ARCHITECTURE = Architecture("attention", AttentionEncoderDecoder, CharacterConfig, operations=None)
