import io
import time

import numpy as np
import pytest

from arith_seq2seq import datasets
from arith_seq2seq.config import DataConfig
from arith_seq2seq.errors import ConfigError
from arith_seq2seq.questions import (
    _draw_operands,
    _sample_by_enumeration,
    _sample_by_rejection,
    count_carries,
    distinct_questions,
    generate_longer,
    generate_questions,
    num_digits,
    operand_probabilities,
    readable_questions,
)
from arith_seq2seq.vocab import Vocab


def decoded(qs):
    vocab = Vocab(qs.vocab)
    return vocab.decode(qs.question), vocab.decode(qs.answer)


@pytest.mark.parametrize("digits", [1, 2, 3, 6])
def test_questions_are_padded_and_answers_are_correct(digits):
    qs = generate_questions(DataConfig(digits=digits, count=40, reverse=False, seed=1))
    questions, answers = decoded(qs)
    for q, ans, a, b in zip(questions, answers, qs.a, qs.b):
        assert len(q) == 2 * digits + 1 and len(ans) == digits + 1
        assert q == f"{a}+{b}".ljust(2 * digits + 1)
        assert ans == str(a + b).ljust(digits + 1)
        assert int(ans) == int(a) + int(b)


def test_reversal_reverses_the_padded_question_only():
    plain = generate_questions(DataConfig(digits=3, count=500, reverse=False, seed=3))
    rev = generate_questions(DataConfig(digits=3, count=500, reverse=True, seed=3))
    np.testing.assert_array_equal(rev.question, plain.question[:, ::-1])
    np.testing.assert_array_equal(rev.answer, plain.answer)
    vocab = Vocab(rev.vocab)
    assert readable_questions(rev.question, vocab, True) == readable_questions(plain.question, vocab, False)


def test_a_plus_b_and_b_plus_a_count_as_one_question():
    qs = generate_questions(DataConfig(digits=2, count=3000, seed=5))
    pairs = set(zip(np.minimum(qs.a, qs.b).tolist(), np.maximum(qs.a, qs.b).tolist()))
    assert len(pairs) == len(qs) == 3000


def test_operands_follow_the_reference_distribution():
    # Digit count uniform in 1..digits, then uniform digits: over a third of raw draws are
    # numbers below 10 (so the reference's de-duplication rejects most of them).
    draws = _draw_operands(3, 200_000, np.random.default_rng(0))
    assert np.mean(draws < 10) == pytest.approx(operand_probabilities(3)[:10].sum(), abs=0.01)
    assert operand_probabilities(4).sum() == pytest.approx(1.0)


@pytest.mark.parametrize("ordered", [False, True])
def test_both_samplers_draw_the_same_distribution(ordered):
    # Near the limit the generator enumerates instead of rejecting; the questions it
    # keeps must look like those the reference's rejection loop keeps.
    def shares(sampler):
        small, a_first = [], []
        for seed in range(8):
            a, b = sampler(2, 2000, np.random.default_rng(seed), ordered)
            small.append(np.mean(np.concatenate([a, b]) < 10))
            a_first.append(np.mean(a < b))
        return np.mean(small), np.mean(a_first)

    enumerated, rejected = shares(_sample_by_enumeration), shares(_sample_by_rejection)
    assert enumerated == pytest.approx(rejected, abs=0.01)


@pytest.mark.parametrize("operation", ["add", "sub", "mul"])
@pytest.mark.parametrize("digits", [1, 3, 5])
def test_answers_match_python_integers(operation, digits):
    count = min(3000, distinct_questions(digits, operation))
    qs = generate_questions(DataConfig(digits=digits, count=count, operation=operation, seed=digits))
    symbol = {"add": "+", "sub": "-", "mul": "*"}[operation]
    vocab = Vocab(qs.vocab)
    width = 2 * digits if operation == "mul" else digits + 1
    assert qs.answer.shape == (count, width)
    questions = readable_questions(qs.question, vocab, qs.reverse)
    for text, answer, a, b in zip(questions, vocab.decode(qs.answer), qs.a.tolist(), qs.b.tolist()):
        left, right = text.split(symbol, 1)
        assert (int(left), int(right)) == (a, b)
        expected = {"add": a + b, "sub": a - b, "mul": a * b}[operation]
        assert answer == str(expected).ljust(width)


def test_subtraction_questions_are_ordered_and_can_be_exhausted():
    # a-b and b-a are different questions: 10*10 one-digit ones exist, not 55.
    assert distinct_questions(1, "sub") == 100
    qs = generate_questions(DataConfig(digits=1, count=100, operation="sub"))
    assert len(set(zip(qs.a.tolist(), qs.b.tolist()))) == 100
    with pytest.raises(ConfigError, match="only 100 distinct sub questions"):
        generate_questions(DataConfig(digits=1, count=101, operation="sub"))


def test_longer_sets_have_longer_operands_and_their_own_seeds():
    cfg = DataConfig(digits=2, count=100, longer_extra_digits=(1, 3), longer_count=300)
    longer = generate_longer(cfg)
    assert sorted(longer) == [3, 5]
    for digits, qs in longer.items():
        assert len(qs) == 300 and qs.digits == digits
        assert (num_digits(np.maximum(qs.a, qs.b)) == digits).all()
        assert qs.question.shape[1] == 2 * digits + 1
    again = generate_longer(DataConfig(digits=2, count=100, longer_extra_digits=(1,), longer_count=300))
    np.testing.assert_array_equal(again[3].a, longer[3].a)


def test_generation_is_byte_identical_for_the_same_params(tmp_path):
    cfg = DataConfig(digits=3, count=5000, seed=42)
    paths = [tmp_path / "a.npz", tmp_path / "b.npz"]
    for path in paths:
        datasets.save(generate_questions(cfg), path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    other = tmp_path / "c.npz"
    datasets.save(generate_questions(DataConfig(digits=3, count=5000, seed=43)), other)
    assert other.read_bytes() != paths[0].read_bytes()


def test_impossible_count_fails_at_once_with_the_limit():
    assert distinct_questions(1) == 55
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"data.count is 56.*only 55 distinct"):
        generate_questions(DataConfig(digits=1, count=56))
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("digits,count", [(1, 55), (2, 5050), (3, 500_500), (3, 400_000)])
def test_counts_at_or_near_the_limit_finish(digits, count):
    qs = generate_questions(DataConfig(digits=digits, count=count, seed=2))
    pairs = np.unique(np.stack([np.minimum(qs.a, qs.b), np.maximum(qs.a, qs.b)], 1), axis=0)
    assert len(pairs) == len(qs) == count
    assert qs.a.max() < 10**digits and qs.b.max() < 10**digits


def test_num_digits_and_carries_on_hand_made_cases():
    np.testing.assert_array_equal(num_digits(np.array([0, 9, 10, 99, 100, 999_999])), [1, 1, 2, 2, 3, 6])
    a = np.array([0, 1, 5, 99, 999, 123, 456, 905])
    b = np.array([0, 2, 5, 1, 1, 456, 544, 95])
    # 5+5 carries once; 99+1 twice; 999+1, 456+544 and 905+95 (= 1000) three times
    np.testing.assert_array_equal(count_carries(a, b), [0, 0, 1, 2, 3, 0, 3, 3])
