import pytest
import torch

from arith_seq2seq.model import RepeatSeq2Seq, Seq2SeqConfig


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("embedding_dim,layers", [(0, 1), (8, 2)])
def test_output_shape_for_every_cell(cell, embedding_dim, layers):
    cfg = Seq2SeqConfig(
        vocab_size=12, answer_len=4, cell=cell, hidden_size=16, decoder_layers=layers,
        embedding_dim=embedding_dim,
    )
    model = RepeatSeq2Seq(cfg)
    question = torch.randint(0, 12, (5, 7))
    logits = model(question)
    assert logits.shape == (5, 4, 12)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_one_hot_reference_size_matches_keras_parameter_count():
    # The reference's summary: 72,192 + 131,584 + 1,548 = 205,324 parameters. PyTorch
    # keeps two bias vectors per LSTM gate where Keras keeps one (+4*128 per LSTM).
    model = RepeatSeq2Seq(Seq2SeqConfig(vocab_size=12, answer_len=4))
    n = sum(p.numel() for p in model.parameters())
    assert n == 205_324 + 2 * 4 * 128
