"""What every architecture shares: its spec and its interface (`Network`); and what the
character architectures (repeat, seq2seq, attention) share: their config and input layer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..data.question_format import QuestionFormat
from ..pipeline.config import check_bool, check_choice, check_int
from .architecture import MAX_LAYERS, MAX_WIDTH, NetConfig, check_weights

RNN_CLASSES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
CELLS = tuple(RNN_CLASSES)  # the values of `cell`
IGNORE = -100  # cross_entropy's ignore_index: target positions after the end token


@dataclass(frozen=True)
class ModelSpec:
    """Everything that builds a model: the model params and the format of the questions
    it learns (which fixes its vocabulary and answer width). The model file holds both."""

    config: NetConfig  # the network's own settings (its architecture's `config`)
    questions: QuestionFormat


@dataclass(frozen=True)
class CharacterConfig(NetConfig):
    """repeat, seq2seq, attention: recurrent networks over the question's characters."""

    cell: str  # lstm | gru | rnn
    hidden_size: int
    # Stacked recurrent layers: the decoder's for repeat (its encoder has one), the
    # encoder's and the decoder's for seq2seq and attention.
    layers: int
    embedding_dim: int  # 0: one-hot characters as in the reference
    # The decoder writes the answer units first, the order in which carries travel, so a
    # carry is known before the digit it changes (the reference writes the leading digit
    # first, which needs the whole carry chain at the first step). Answers are turned
    # back before anyone sees them.
    reverse_answer: bool

    def validate(self) -> None:
        check_choice(f"{self.arch}.cell", self.cell, CELLS)
        check_int(f"{self.arch}.hidden_size", self.hidden_size, 1, MAX_WIDTH)
        check_int(f"{self.arch}.layers", self.layers, 1, MAX_LAYERS)
        check_int(f"{self.arch}.embedding_dim", self.embedding_dim, 0, MAX_WIDTH)
        check_bool(f"{self.arch}.reverse_answer", self.reverse_answer)
        # Four gates, each a hidden_size x (hidden_size + input) matrix per layer, encoder
        # and decoder (an upper estimate for the gru and rnn cells).
        h = self.hidden_size
        check_weights(self.arch, 4 * h * (h + max(self.embedding_dim, h)) * (self.layers + 1) * 2)


def reverse_before_padding(ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Each row's characters before its first `pad_id` in reverse order, the rest as it is."""
    n, width = ids.shape
    position = torch.arange(width, device=ids.device).expand(n, width)
    is_pad = ids == pad_id
    length = torch.where(is_pad.any(1), is_pad.int().argmax(1), width)
    source = torch.where(position < length[:, None], length[:, None] - 1 - position, position)
    return ids.gather(1, source)


class Network(nn.Module):
    """Maps (batch, question_len) character ids to answers of padded character ids.

    Every architecture reads the questions (`read`) and answers from what it read
    (`write`). That split lets `read_shared` read many questions at once, where reading
    shares work between them (CharacterNetwork), and `write` answer them.
    """

    # Whether questions longer than the training ones can be answered at all (otherwise
    # the answer has exactly the training data's answer width).
    reads_longer_input: bool = False
    # Whether longer questions are answered as the training ones are (digit-aligned
    # architectures), so that predict takes them without --allow-longer.
    any_length: bool = False
    # Whether `loss` feeds the true previous character, so that its predictions are not
    # what `predict` would answer (validation then calls `predict` as well).
    teacher_forced: bool = False

    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec = spec
        self.config = spec.config
        vocab = spec.questions.vocab
        self.vocab_size = len(vocab)
        self.answer_width = spec.questions.answer_width
        self.pad_id, self.start_id, self.end_id = vocab.pad_id, vocab.start_id, vocab.end_id

    def loss(
        self, question: torch.Tensor, answer: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training loss and the (teacher-forced, where that applies) predicted answer ids."""
        raise NotImplementedError

    def refuses(self, a_digits: int, b_digits: int) -> str | None:
        """Why this network cannot answer a question whose operands have these many digits
        (a clause of an error line), or None. A question it would answer wrong by
        construction is refused, never answered."""
        return None

    def read(self, question: torch.Tensor):
        """What the model takes from the questions before answering them (what `write`
        reads)."""
        raise NotImplementedError

    def read_shared(self, question: torch.Tensor):
        """What `read` returns, for many questions at once (rows sorted lexicographically);
        here nothing is shared between them."""
        return self.read(question)

    def write(self, reading, question: torch.Tensor, answer_width: int):
        """Answer ids padded to `answer_width` and the model's confidence in each answer
        (the probability of the whole answer it chose), from what `read` returned."""
        raise NotImplementedError

    def predict(
        self, question: torch.Tensor, answer_width: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Answer ids padded to `answer_width` and the model's confidence in each answer."""
        return self.write(self.read(question), question, answer_width)


class CharacterNetwork(Network):
    """The character architectures (repeat, seq2seq, attention): an RNN, `self.encoder`,
    reads the question's characters through the input layer (one-hot, or a learned
    embedding with `embedding_dim`)."""

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        if self.config.embedding_dim:
            self.embed = nn.Embedding(self.vocab_size, self.config.embedding_dim)
            self.input_size = self.config.embedding_dim
        else:
            self.embed = None
            self.input_size = self.vocab_size

    def written(self, answer: torch.Tensor) -> torch.Tensor:
        """Answer ids in the order the decoder writes them: with `reverse_answer`, the
        characters before the padding last first (units first: `1023` is written `3201`).
        Its own inverse, so it also turns what the decoder wrote back the right way round."""
        if not self.config.reverse_answer:
            return answer
        return reverse_before_padding(answer, self.pad_id)

    def characters(self, ids: torch.Tensor) -> torch.Tensor:
        """Input vectors for character ids: a learned embedding or one-hot."""
        if self.embed is not None:
            return self.embed(ids)
        return F.one_hot(ids.long(), self.vocab_size).float()

    def rnn(self, input_size: int, layers: int) -> nn.RNNBase:
        return RNN_CLASSES[self.config.cell](
            input_size, self.config.hidden_size, num_layers=layers, batch_first=True
        )

    def read(self, question: torch.Tensor):
        """The encoder's outputs (batch, question_len, hidden) and final state."""
        return self.encoder(self.characters(question))

    def read_shared(self, question: torch.Tensor):
        """What `read` returns, with every distinct prefix of the questions read once.

        An RNN's state after k characters depends on those k characters only, so questions
        that start alike share that much work. Rows sorted lexicographically share the
        most: the rows of a prefix are then contiguous, and a prefix is new exactly where a
        row differs from the row above it in one of its first k characters."""
        n, width = question.shape
        new = torch.zeros(n, dtype=torch.bool, device=question.device)
        new[0] = True
        state, node = None, None  # per distinct prefix so far; the prefix of each row
        outputs = []
        for k in range(width):
            new[1:] |= question[1:, k] != question[:-1, k]
            first = new.nonzero().squeeze(1)  # one row per distinct prefix of length k+1
            x = self.characters(question[first, k : k + 1])
            if state is not None:
                parent = node[first]
                state = (
                    tuple(s[:, parent] for s in state)
                    if isinstance(state, tuple)
                    else state[:, parent]
                )
            out, state = self.encoder(x, state)
            node = new.cumsum(0) - 1
            outputs.append(out[node, 0])
        final = tuple(s[:, node] for s in state) if isinstance(state, tuple) else state[:, node]
        return torch.stack(outputs, 1), final
