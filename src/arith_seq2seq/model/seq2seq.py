"""Encoder-decoder: the encoder's final state starts a decoder that writes the answer one
character at a time, from a start token to an end token. Trained with teacher forcing
(the decoder reads the true previous character); answers greedily, batched."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .architecture import Architecture
from .base import IGNORE, CharacterConfig, CharacterNetwork, ModelSpec


def teacher_forcing(answer: torch.Tensor, pad_id: int, start_id: int, end_id: int):
    """Decoder input and target for padded answers.

    input:  START a0 a1 ... a(k-1) PAD...   (the target shifted right by one)
    target: a0 a1 ... a(k-1) END IGNORE...  (one longer than the answer)
    """
    answer = answer.long()
    n, width = answer.shape
    lengths = (answer != pad_id).sum(1)
    target = torch.cat([answer, answer.new_full((n, 1), pad_id)], 1)
    target[torch.arange(n, device=answer.device), lengths] = end_id
    positions = torch.arange(width + 1, device=answer.device)
    target = target.masked_fill(positions[None, :] > lengths[:, None], IGNORE)
    decoder_input = torch.cat([answer.new_full((n, 1), start_id), answer], 1)
    return decoder_input, target


def until_end(tokens: torch.Tensor, end_id: int, pad_id: int, width: int) -> torch.Tensor:
    """Generated tokens -> answer ids: everything from the first END on becomes PAD,
    then padded or cut to `width`."""
    ended = (tokens == end_id).int().cumsum(1) > 0
    ids = tokens.masked_fill(ended, pad_id)
    if ids.shape[1] < width:
        ids = torch.cat([ids, ids.new_full((len(ids), width - ids.shape[1]), pad_id)], 1)
    return ids[:, :width]


class EncoderDecoder(CharacterNetwork):
    reads_longer_input = True
    teacher_forced = True

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        # Same depth both sides, so the encoder's final state fits the decoder.
        self.encoder = self.rnn(self.input_size, spec.config.layers)
        self.decoder = self.rnn(self.input_size, spec.config.layers)
        self.head = nn.Linear(spec.config.hidden_size, self.vocab_size)

    def readout(
        self, decoded: torch.Tensor, encoded: torch.Tensor, question: torch.Tensor
    ) -> torch.Tensor:
        """Decoder outputs -> character logits (the attention subclass looks back here)."""
        return self.head(decoded)

    def decoder_steps(self, decoder_input, state, encoded, question):
        """The decoder over `decoder_input` (the whole teacher-forced answer, or one
        token): logits per position, and the state after."""
        decoded, state = self.decoder(self.characters(decoder_input), state)
        return self.readout(decoded, encoded, question), state

    def loss(self, question, answer):
        decoder_input, target = teacher_forcing(
            self.written(answer), self.pad_id, self.start_id, self.end_id
        )
        encoded, state = self.read(question)
        logits, _ = self.decoder_steps(decoder_input, state, encoded, question)
        loss = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=IGNORE)
        pred = until_end(logits.argmax(-1), self.end_id, self.pad_id, answer.shape[1])
        return loss, self.written(pred)

    def write(self, reading, question, answer_width):
        encoded, state = reading
        token = question.new_full((len(question), 1), self.start_id).long()
        finished = torch.zeros(len(question), dtype=torch.bool, device=question.device)
        log_confidence = torch.zeros(len(question), device=question.device)
        generated = []
        # At most answer_width characters and the end token.
        for step in range(answer_width + 1):
            logits, state = self.decoder_steps(token, state, encoded, question)
            log_probs = logits[:, -1].log_softmax(-1)
            if step == answer_width:
                # An answer that filled the width is given as it is: its confidence is the
                # probability that the model ends it there, whatever it would write next.
                log_confidence += log_probs[:, self.end_id].masked_fill(finished, 0.0)
                break
            best = log_probs.max(-1)
            log_confidence += best.values.masked_fill(finished, 0.0)
            token = best.indices.masked_fill(finished, self.pad_id).unsqueeze(1)
            generated.append(token)
            finished |= token.squeeze(1) == self.end_id
            if finished.all():
                break
        ids = until_end(torch.cat(generated, 1), self.end_id, self.pad_id, answer_width)
        return self.written(ids), log_confidence.exp()


ARCHITECTURE = Architecture("seq2seq", EncoderDecoder, CharacterConfig, operations=None)
