import numpy as np
import torch

from arith_seq2seq.evaluation.metrics import char_correct, exact_match
from arith_seq2seq.evaluation.scoring import accuracy_by, first_wrong_position


def test_exact_match_and_char_accuracy_on_hand_made_rows():
    target = np.array([[1, 2, 3], [1, 2, 3], [4, 5, 6]])
    pred = np.array([[1, 2, 3], [1, 0, 3], [0, 0, 0]])
    np.testing.assert_array_equal(exact_match(pred, target), [True, False, False])
    assert char_correct(pred, target).mean() == 5 / 9
    np.testing.assert_array_equal(first_wrong_position(pred, target), [-1, 1, 0])
    # The same functions score torch tensors inside the Lightning module.
    assert exact_match(torch.tensor(pred), torch.tensor(target)).tolist() == [True, False, False]


def test_accuracy_by_groups_counts_and_sorts():
    table = accuracy_by({"carries": np.array([2, 0, 2, 1, 2])}, np.array([1, 1, 0, 0, 1], bool))
    assert table["carries"].tolist() == [0, 1, 2]
    assert table["n"].tolist() == [1, 1, 3]
    np.testing.assert_allclose(table["exact_match"], [1.0, 0.0, 2 / 3])
