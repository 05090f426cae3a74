import numpy as np
import pytest

from arith_seq2seq.data.operations import operation_named
from arith_seq2seq.data.question_format import vocab_for
from arith_seq2seq.data.vocab import Vocab


def test_vocab_is_sorted_like_the_reference_plus_sequence_markers():
    vocab = vocab_for(operation_named("add"))
    assert vocab.chars == " $+0123456789^"
    assert (vocab.pad_id, vocab.end_id, vocab.start_id) == (0, 1, 13)
    assert vocab_for(operation_named("sub")).chars == " $-0123456789^"
    assert vocab_for(operation_named("mul")).chars == " $*0123456789^"


def test_encode_decode_round_trip_pads_with_spaces():
    vocab = vocab_for(operation_named("add"))
    ids = vocab.encode(["12+345", "7+8", ""], width=7)
    assert ids.shape == (3, 7) and ids.dtype == np.uint8
    assert vocab.texts(ids) == ["12+345 ", "7+8    ", "       "]


def test_encode_rejects_unknown_characters_and_overlong_text():
    vocab = Vocab.from_chars("0123456789+ ")
    with pytest.raises(ValueError, match="'x'"):
        vocab.encode(["1x2"], width=5)
    with pytest.raises(ValueError, match="longer than 2"):
        vocab.encode(["123"], width=2)
