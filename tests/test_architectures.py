import dataclasses

import pytest
import torch

from arith_seq2seq.data.operations import operation_named
from arith_seq2seq.data.question_format import QuestionFormat, vocab_for
from arith_seq2seq.data.questions import generate_questions
from arith_seq2seq.model import ARCHITECTURES, ModelSpec, answering, build
from arith_seq2seq.model.base import CELLS, IGNORE, reverse_before_padding
from arith_seq2seq.model.seq2seq import teacher_forcing, until_end
from arith_seq2seq.params import section_keys
from arith_seq2seq.pipeline.errors import ConfigError

from .conftest import config

VOCAB = vocab_for(operation_named("add"))  # " $+0123456789^": pad 0, end 1, start 13


def operation_of(arch: str) -> str:
    """An operation `arch` answers: add (answers of 4 characters at 3 digits), or mul for
    the product columns."""
    return "add" if ARCHITECTURES[arch].learns("add") else "mul"


def spec(arch="repeat", cell="lstm", **kw):
    """A 3-digit model's spec; cell None for an architecture without one (`columns`)."""
    kw = {"cell": cell, **kw} if cell else kw
    return ModelSpec(
        config("model", **{"arch": arch, "hidden_size": 32, **kw}),
        QuestionFormat(operation_named(operation_of(arch)), 3, True),
    )


def questions(operation: str):
    qs = generate_questions(config("data", digits=3, count=256, seed=0, operation=operation))
    return torch.from_numpy(qs.question).long(), torch.from_numpy(qs.answer).long()


@pytest.fixture(scope="module")
def batch():
    return questions("add")


def test_teacher_forcing_shifts_the_answer_right_behind_the_start_token():
    answer = torch.from_numpy(VOCAB.encode(["1023", "52"], 4)).long()
    decoder_input, target = teacher_forcing(answer, VOCAB.pad_id, VOCAB.start_id, VOCAB.end_id)
    S, E, P = VOCAB.start_id, VOCAB.end_id, VOCAB.pad_id
    ids = lambda text: VOCAB.ids(text).tolist()  # noqa: E731
    assert decoder_input.tolist() == [[S, *ids("1023")], [S, *ids("52"), P, P]]
    assert target.tolist() == [[*ids("1023"), E], [*ids("52"), E, IGNORE, IGNORE]]
    # The decoder reads at step t what it should have written at step t-1.
    assert decoder_input[0, 1:].tolist() == target[0, :-1].tolist()


def test_until_end_pads_everything_from_the_end_token():
    E, P = VOCAB.end_id, VOCAB.pad_id
    tokens = torch.tensor([[5, 6, E, 7, 8], [5, E, E, 9, 9], [5, 6, 7, 8, 9]])
    assert until_end(tokens, E, P, 4).tolist() == [[5, 6, P, P], [5, P, P, P], [5, 6, 7, 8]]
    assert until_end(tokens[:, :2], E, P, 3).tolist() == [[5, 6, P], [5, P, P], [5, 6, P]]


# Every cell for the architectures that have one (`aligned` and `columns` have none: cell None).
ARCH_CELLS = [
    (arch, cell)
    for arch in sorted(ARCHITECTURES)
    for cell in (CELLS if "cell" in section_keys(arch) else [None])
]


# The bound of the test below: the loss falls by more than 5% in 15 steps. Over seeds 0
# (the test's) to 4, each natively and with oneDNN and MKL limited to AVX2
# (bench/test-thresholds.json, `python bench/test_thresholds.py --only few_steps_loss`),
# the last loss over the first is at most 0.78 (repeat-lstm, seed 3), most architectures
# 0.50-0.77. (The bound is kept from when the aligned design of then reached 0.898.)
LOSS_RATIO_BELOW = 0.95


def few_steps_losses(arch: str, cell: str | None, batch, seed: int = 0):
    """A small model of `arch` and `cell` after 15 Adam steps on one batch of 256
    questions (`batch` for addition; multiplication's own for `columns`): the model and
    the losses."""
    torch.manual_seed(seed)
    question, answer = batch if operation_of(arch) == "add" else questions(operation_of(arch))
    # The character architectures' own keys (the digit-column ones have none of them).
    own = (
        {"layers": 2 if cell == "gru" else 1, "embedding_dim": 8 if cell == "rnn" else 0}
        if arch in ("repeat", "seq2seq", "attention")
        else {}
    )
    model = build(spec(arch, cell, **own))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(15):
        loss, pred = model.loss(question, answer)
        assert pred.shape == answer.shape
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, question, answer, losses


@pytest.mark.trains
@pytest.mark.parametrize("arch, cell", ARCH_CELLS)
def test_every_arch_and_cell_trains_a_few_steps_and_lowers_the_loss(arch, cell, batch):
    model, question, answer, losses = few_steps_losses(arch, cell, batch)
    assert losses[-1] < LOSS_RATIO_BELOW * losses[0]
    ids, confidence = model.predict(question, answer.shape[1])
    assert ids.shape == answer.shape and confidence.shape == (len(question),)
    assert ((confidence > 0) & (confidence <= 1)).all()


@pytest.mark.parametrize("arch", ["seq2seq", "attention"])
def test_greedy_decoding_stops_at_the_end_token_and_matches_step_by_step(arch, batch):
    torch.manual_seed(1)
    question, answer = batch
    model = build(spec(arch)).eval()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(30):  # enough for answers that end at different places
        loss, _ = model.loss(question, answer)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        ids, confidence = model.predict(question, 4)
        # One question at a time gives the same answers: batching changes nothing.
        single = torch.cat([model.predict(question[i : i + 1], 4)[0] for i in range(16)])
        assert torch.equal(single, ids[:16])
        # Feeding the greedy answer back with teacher forcing, the model's argmax at every
        # step is the character it chose, up to and including the end token.
        _, forced_pred = model.loss(question, ids)
        assert torch.equal(forced_pred, ids)
        # And its confidence is the probability of that answer under teacher forcing.
        decoder_input, target = teacher_forcing(ids, VOCAB.pad_id, VOCAB.start_id, VOCAB.end_id)
        encoded, state = model.read(question)
        logits, _ = model.decoder_steps(decoder_input, state, encoded, question)
        logp = logits.log_softmax(-1).gather(2, target.clamp(min=0).unsqueeze(2)).squeeze(2)
        expected = (logp * (target != IGNORE)).sum(1).exp()
        assert torch.allclose(confidence, expected, atol=1e-5)
    assert (ids == VOCAB.end_id).sum() == 0  # the end token itself never reaches the answer
    lengths = (ids != VOCAB.pad_id).sum(1)
    assert lengths.min() < lengths.max(), "answers of different lengths"


def test_only_encoder_decoders_answer_longer_questions():
    assert not ARCHITECTURES["repeat"].network.reads_longer_input
    assert (
        ARCHITECTURES["seq2seq"].network.reads_longer_input
        and ARCHITECTURES["attention"].network.reads_longer_input
    )
    question = torch.zeros(2, 9, dtype=torch.long) + VOCAB.ids("1")[0]
    with pytest.raises(
        ValueError, match="the repeat architecture answers with exactly 4 characters"
    ):
        answering.answer_questions(build(spec("repeat")), question.numpy(), 5)
    ids, _ = build(spec("attention")).predict(question, 5)
    assert ids.shape == (2, 5)


def test_unknown_arch_names_the_choices():
    with pytest.raises(
        ConfigError,
        match="model.arch is 'transformer'; choose one of repeat, seq2seq, attention, aligned, "
        "columns",
    ):
        build(
            ModelSpec(
                dataclasses.replace(config("model"), arch="transformer"),
                QuestionFormat(operation_named("add"), 3, True),
            )
        )


def test_one_hot_reference_size_matches_keras_parameter_count():
    # The reference's summary: 72,192 + 131,584 + 1,548 = 205,324 parameters for 12
    # characters. PyTorch keeps two bias vectors per LSTM gate where Keras keeps one, and
    # the vocabulary has 2 more characters (the start and end markers of the
    # encoder-decoders): 4 * 128 more encoder input weights and 129 more head weights each.
    model = build(spec(hidden_size=128))
    assert len(VOCAB) == 12 + 2
    assert sum(p.numel() for p in model.parameters()) == 205_324 + 2 * 4 * 128 + 2 * (4 * 128 + 129)


def test_repeat_loss_predictions_are_its_answers_so_validation_need_not_decode_twice(batch):
    question, answer = batch
    model = build(spec("repeat")).eval()
    assert not model.teacher_forced and build(spec("seq2seq")).teacher_forced
    with torch.no_grad():
        _, pred = model.loss(question, answer)
        assert torch.equal(pred, model.predict(question, 4)[0])


def test_reverse_before_padding_turns_each_answer_around_and_back():
    pad = VOCAB.pad_id
    one, two, three, four = (VOCAB.chars.index(c) for c in "1234")
    ids = torch.tensor(
        [[two, four, three, pad], [one, two, three, four], [four, pad, pad, pad], [pad] * 4]
    )
    turned = reverse_before_padding(ids, pad)
    assert turned.tolist() == [
        [three, four, two, pad],
        [four, three, two, one],
        [four, pad, pad, pad],
        [pad] * 4,
    ]
    assert torch.equal(reverse_before_padding(turned, pad), ids)


@pytest.mark.parametrize("arch", ["repeat", "seq2seq", "attention"])
def test_reverse_answer_writes_units_first_and_answers_the_right_way_round(arch, batch):
    """With reverse_answer the network learns the answer written units first: its loss on
    an answer is the plain network's loss on that answer turned around, and what it
    answers is the plain network's answer turned back, so no user ever sees the order."""
    question, answer = batch
    torch.manual_seed(0)
    plain = build(spec(arch, reverse_answer=False)).eval()
    turned = build(spec(arch, reverse_answer=True)).eval()
    turned.load_state_dict(plain.state_dict())
    written = reverse_before_padding(answer, VOCAB.pad_id)
    assert not torch.equal(written, answer), "precondition: answers of more than one digit"
    with torch.no_grad():
        loss, pred = turned.loss(question, answer)
        plain_loss, plain_pred = plain.loss(question, written)
        assert torch.equal(loss, plain_loss)
        assert torch.equal(pred, reverse_before_padding(plain_pred, VOCAB.pad_id))
        ids, confidence = turned.predict(question, answer.shape[1])
        plain_ids, plain_confidence = plain.predict(question, answer.shape[1])
        assert torch.equal(ids, reverse_before_padding(plain_ids, VOCAB.pad_id))
        assert torch.equal(confidence, plain_confidence)
