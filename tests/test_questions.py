import hashlib
import time
import tracemalloc
from collections import Counter

import numpy as np
import pytest

from arith_seq2seq.data import longer_sets, question_set, questions
from arith_seq2seq.data.longer_sets import generate_longer
from arith_seq2seq.data.operations import operation_named
from arith_seq2seq.data.question_format import QuestionFormat, vocab_for
from arith_seq2seq.data.questions import (
    POW10,
    _draw_operands,
    _fresh_pairs,
    _sample_by_enumeration,
    _sample_by_rejection,
    count_carries,
    distinct_questions,
    equal_shares,
    generate_questions,
    num_digits,
    operand_probabilities,
    question_and_answer_ids,
    readable_questions,
    strata,
    stratum_size,
)
from arith_seq2seq.pipeline.errors import ConfigError

from .conftest import config


def texts_of(qs):
    vocab = qs.format.vocab
    return vocab.texts(qs.question), vocab.texts(qs.answer)


@pytest.mark.parametrize("digits", [1, 2, 3, 6])
def test_questions_are_padded_and_answers_are_correct(digits):
    qs = generate_questions(config("data", digits=digits, count=40, reverse=False, seed=1))
    questions, answers = texts_of(qs)
    for q, ans, a, b in zip(questions, answers, qs.a, qs.b):
        assert len(q) == 2 * digits + 1 and len(ans) == digits + 1
        assert q == f"{a}+{b}".ljust(2 * digits + 1)
        assert ans == str(a + b).ljust(digits + 1)
        assert int(ans) == int(a) + int(b)


def test_reversal_reverses_the_padded_question_only():
    plain = generate_questions(config("data", digits=3, count=500, reverse=False, seed=3))
    rev = generate_questions(config("data", digits=3, count=500, reverse=True, seed=3))
    np.testing.assert_array_equal(rev.question, plain.question[:, ::-1])
    np.testing.assert_array_equal(rev.answer, plain.answer)
    assert readable_questions(rev.question, rev.format) == readable_questions(
        plain.question, plain.format
    )


def test_a_plus_b_and_b_plus_a_count_as_one_question():
    qs = generate_questions(config("data", digits=2, count=3000, seed=5, sampling="reference"))
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
            op = operation_named("sub" if ordered else "add")
            a, b = sampler(2, 2000, np.random.default_rng(seed), op)
            small.append(np.mean(np.concatenate([a, b]) < 10))
            a_first.append(np.mean(a < b))
        return np.mean(small), np.mean(a_first)

    enumerated, rejected = shares(_sample_by_enumeration), shares(_sample_by_rejection)
    assert enumerated == pytest.approx(rejected, abs=0.01)


@pytest.mark.parametrize("operation", ["add", "sub", "mul"])
@pytest.mark.parametrize("digits", [1, 3, 5])
def test_answers_match_python_integers(operation, digits):
    count = min(3000, distinct_questions(digits, operation_named(operation)))
    qs = generate_questions(
        config("data", digits=digits, count=count, operation=operation, seed=digits)
    )
    symbol = {"add": "+", "sub": "-", "mul": "*"}[operation]
    vocab = qs.format.vocab
    width = 2 * digits if operation == "mul" else digits + 1
    assert qs.answer.shape == (count, width)
    questions = readable_questions(qs.question, qs.format)
    for text, answer, a, b in zip(questions, vocab.texts(qs.answer), qs.a.tolist(), qs.b.tolist()):
        left, right = text.split(symbol, 1)
        assert (int(left), int(right)) == (a, b)
        expected = {"add": a + b, "sub": a - b, "mul": a * b}[operation]
        assert answer == str(expected).ljust(width)


def test_subtraction_questions_are_ordered_and_can_be_exhausted():
    # a-b and b-a are different questions: 10*10 one-digit ones exist, not 55.
    assert distinct_questions(1, operation_named("sub")) == 100
    qs = generate_questions(
        config("data", digits=1, count=100, operation="sub", sampling="reference")
    )
    assert len(set(zip(qs.a.tolist(), qs.b.tolist()))) == 100
    with pytest.raises(ConfigError, match="only 100 distinct sub questions"):
        generate_questions(
            config("data", digits=1, count=101, operation="sub", sampling="reference")
        )


def test_longer_sets_have_operands_of_exactly_their_length_and_their_own_seeds():
    cfg = config("data", digits=2, count=100, longer_digits=(3, 25), longer_count=300)
    longer = generate_longer(cfg)
    assert list(longer) == ["digits_3", "chains_3", "digits_25", "chains_25"]
    for digits in (3, 25):
        qs = longer[f"digits_{digits}"]
        assert len(qs) == 300 and qs.format.digits == digits
        assert len(set(zip(qs.a.tolist(), qs.b.tolist()))) == 300
        assert {len(str(x)) for x in qs.a.tolist() + qs.b.tolist()} == {digits}
        assert qs.question.shape[1] == 2 * digits + 1
    # Beyond int64 the operands are decimal strings, and the answers are still exact.
    big = longer["digits_25"]
    assert big.a.dtype.kind == "U" and longer["digits_3"].a.dtype == np.int64
    answers = [t.strip() for t in big.format.vocab.texts(big.answer)]
    assert answers == [str(int(x) + int(y)) for x, y in zip(big.a, big.b)]
    chains = longer["chains_25"]
    assert ("9" * 25, "1") in set(zip(chains.a.tolist(), chains.b.tolist()))
    again = generate_longer(
        config("data", digits=2, count=100, longer_digits=(3,), longer_count=300)
    )
    np.testing.assert_array_equal(again["digits_3"].a, longer["digits_3"].a)


def test_long_questions_are_encoded_as_the_training_encoder_writes_them():
    for fmt in (
        QuestionFormat(operation_named("add"), 6, True),
        QuestionFormat(operation_named("sub"), 6, False),
        QuestionFormat(operation_named("mul"), 4, True),
    ):
        rng = np.random.default_rng(1)
        a = rng.integers(0, 10**fmt.digits, 500)
        b = rng.integers(0, 10**fmt.digits, 500)
        question, answer = question_and_answer_ids(a, b, fmt)
        qs = longer_sets.question_set([str(x) for x in a], [str(x) for x in b], fmt)
        np.testing.assert_array_equal(qs.question, question)
        np.testing.assert_array_equal(qs.answer, answer)


def test_sub_chains_include_borrows_through_every_column_and_negative_answers():
    chains = longer_sets.generate_longer(config("data", operation="sub", longer_digits=(50,)))[
        "chains_50"
    ]
    answers = [t.strip() for t in chains.format.vocab.texts(chains.answer)]
    assert (
        "9" * 49 in answers
        and "4" + "9" * 49 in answers
        and "-" + "9" * 49 in answers
        and "-1" in answers
    )


def test_generation_is_byte_identical_for_the_same_params(tmp_path):
    cfg = config("data", digits=3, count=5000, seed=42)
    paths = [tmp_path / "a.npz", tmp_path / "b.npz"]
    for path in paths:
        question_set.save(generate_questions(cfg), path)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    other = tmp_path / "c.npz"
    question_set.save(generate_questions(config("data", digits=3, count=5000, seed=43)), other)
    assert other.read_bytes() != paths[0].read_bytes()


def test_impossible_count_fails_at_once_with_the_limit():
    assert distinct_questions(1, operation_named("add")) == 55
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=r"data.count is 56.*only 55 distinct"):
        generate_questions(config("data", digits=1, count=56, sampling="reference"))
    with pytest.raises(
        ConfigError, match=r"data.count is 101.*only 100 distinct ordered add questions"
    ):
        generate_questions(config("data", digits=1, count=101, sampling="balanced"))
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("digits,count", [(1, 55), (2, 5050), (3, 500_500), (3, 400_000)])
def test_counts_at_or_near_the_limit_finish(digits, count):
    qs = generate_questions(
        config("data", digits=digits, count=count, seed=2, sampling="reference")
    )
    pairs = np.unique(np.stack([np.minimum(qs.a, qs.b), np.maximum(qs.a, qs.b)], 1), axis=0)
    assert len(pairs) == len(qs) == count
    assert qs.a.max() < 10**digits and qs.b.max() < 10**digits


def test_num_digits_and_carries_on_hand_made_cases():
    np.testing.assert_array_equal(
        num_digits(np.array([0, 9, 10, 99, 100, 999_999])), [1, 1, 2, 2, 3, 6]
    )
    a = np.array([0, 1, 5, 99, 999, 123, 456, 905])
    b = np.array([0, 2, 5, 1, 1, 456, 544, 95])
    # 5+5 carries once; 99+1 twice; 999+1, 456+544 and 905+95 (= 1000) three times
    np.testing.assert_array_equal(count_carries(a, b), [0, 0, 1, 2, 3, 0, 3, 3])


def _digest(qs) -> str:
    h = hashlib.sha256()
    for name in ("question", "answer", "a", "b"):
        array = getattr(qs, name)
        h.update(f"{array.dtype}{array.shape}".encode())
        h.update(array.tobytes())
    return h.hexdigest()[:16]


# Digests of what the generator drew before it was rewritten to bound its memory (and
# what dvc.lock's data files hold): the same parameters must keep giving the same
# questions, bit for bit, or every pipeline rerun would retrain on different data. Covers
# both samplers, the chunked paths (more than 65,536 rows), operands of more than 9 digits
# (no single int64 key per pair) and the longer held-out sets.
@pytest.mark.parametrize(
    "cfg, main",
    [
        (config("data", sampling="reference"), "0283fc3daa78a67c"),
        (config("data", digits=9, count=150_000, seed=3, sampling="reference"), "e5a45341d4997377"),
        (
            config(
                "data",
                digits=5,
                count=20_000,
                operation="sub",
                reverse=False,
                seed=4,
                sampling="reference",
            ),
            "2ed9b7bdc6f0443b",
        ),
        (
            config("data", digits=3, count=300_000, operation="mul", seed=5, sampling="reference"),
            "1c091ac123ee3aa6",
        ),
        (
            config("data", digits=2, count=9_000, operation="sub", seed=6, sampling="reference"),
            "c42dfa8238a7e129",
        ),
        (config("data", digits=13, count=5_000, seed=7, sampling="reference"), "3dd044c157929a77"),
    ],
)
def test_generated_questions_are_unchanged(cfg, main):
    assert _digest(generate_questions(cfg)) == main


LONGER_DIGESTS = {
    "digits_4": "142adda20dab1a0d",
    "chains_4": "e40bc75e0dd95622",
    "digits_30": "b01319e99fb4b82f",
    "chains_30": "9def0951a30accb0",
}


# The longer held-out sets as issue 11 made them (operands of exactly N digits, carry
# chains): the same params must keep giving the same bytes.
def test_generated_longer_sets_are_unchanged():
    cfg = config("data", operation="sub", longer_digits=(4, 30), longer_count=500)
    assert {name: _digest(qs) for name, qs in generate_longer(cfg).items()} == LONGER_DIGESTS


def test_drawing_in_chunks_draws_what_one_call_would(monkeypatch):
    # _draw_operands relies on Generator.integers consuming its stream element by element.
    monkeypatch.setattr(questions, "_CHUNK", 1000)
    for digits in (3, 9, 12):
        rng = np.random.default_rng(digits)
        lengths = rng.integers(1, digits + 1, size=5_500)
        expected = rng.integers(0, POW10[lengths], dtype=np.int64)
        np.testing.assert_array_equal(
            _draw_operands(digits, 5_500, np.random.default_rng(digits)), expected
        )


@pytest.mark.parametrize("ordered", [False, True])
def test_duplicate_detection_is_the_same_with_and_without_an_int64_key(ordered):
    # Up to 9 digits a pair is one int64; beyond, pairs are sorted as pairs. Operands
    # below 10**2 can take either path (digits=2 or digits=12): same answer.
    rng = np.random.default_rng(0)
    old_a, old_b = np.unique(rng.integers(0, 100, size=(2, 300)), axis=1)
    new_a, new_b = rng.integers(0, 100, size=(2, 5_000))
    keyed = _fresh_pairs(old_a, old_b, new_a, new_b, ordered, digits=2)
    sorted_pairs = _fresh_pairs(old_a, old_b, new_a, new_b, ordered, digits=12)
    np.testing.assert_array_equal(keyed, sorted_pairs)
    seen = {tuple(p) if ordered else tuple(sorted(p)) for p in zip(old_a.tolist(), old_b.tolist())}
    expected = []
    for pair in zip(new_a.tolist(), new_b.tolist()):
        key = pair if ordered else tuple(sorted(pair))
        expected.append(key not in seen)
        seen.add(key)
    np.testing.assert_array_equal(keyed, expected)


@pytest.mark.parametrize("operation, digits", [("add", 18), ("sub", 18), ("mul", 9), ("add", 1)])
def test_extreme_operands_are_encoded_exactly(operation, digits):
    top = 10**digits - 1
    a = np.array([0, top, top, 0, 1, top // 7, 10 ** (digits - 1)], dtype=np.int64)
    b = np.array([0, top, 0, top, top, 3, 1], dtype=np.int64)
    vocab = vocab_for(operation_named(operation))
    for reverse in (False, True):
        question, answer = question_and_answer_ids(
            a, b, QuestionFormat(operation_named(operation), digits, reverse)
        )
        symbol = {"add": "+", "sub": "-", "mul": "*"}[operation]
        expected = {"add": int.__add__, "sub": int.__sub__, "mul": int.__mul__}[operation]
        for q, ans, x, y in zip(vocab.texts(question), vocab.texts(answer), a.tolist(), b.tolist()):
            assert (q[::-1] if reverse else q) == f"{x}{symbol}{y}".ljust(2 * digits + 1)
            assert ans == str(expected(x, y)).ljust(answer.shape[1])


def test_encoding_refuses_operands_wider_than_the_format():
    with pytest.raises(ValueError, match="at most 2 digits"):
        question_and_answer_ids(
            np.array([100]), np.array([1]), QuestionFormat(operation_named("add"), 2, False)
        )


@pytest.mark.parametrize("sampling", ["balanced", "reference"])
def test_generation_memory_is_about_the_size_of_its_output(sampling):
    # 10,000,000 nine-digit questions are 450 MB of arrays; the generator once peaked at
    # 16 times its output here (int64 (rows x width) temporaries, whole-array sorts).
    tracemalloc.start()
    try:
        qs = generate_questions(
            config("data", digits=9, count=1_000_000, seed=11, sampling=sampling)
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    output = sum(getattr(qs, name).nbytes for name in ("question", "answer", "a", "b"))
    assert peak < 1.5 * output, f"peak {peak / 1e6:.0f} MB for {output / 1e6:.0f} MB of questions"


def test_equal_shares_take_small_strata_whole_and_share_the_rest():
    assert equal_shares(90, [10, 40, 40]) == [10, 40, 40]
    assert equal_shares(60, [10, 40, 40]) == [10, 25, 25]
    assert equal_shares(61, [10, 40, 40]) == [10, 26, 25]
    assert equal_shares(30, [100, 100, 100]) == [10, 10, 10]
    assert sum(equal_shares(150_000, [stratum_size(*s) for s in strata(3)])) == 150_000


def test_balanced_sampling_draws_ordered_questions_an_equal_share_per_stratum():
    qs = generate_questions(config("data", digits=3, count=150_000, seed=4, sampling="balanced"))
    pairs = set(zip(qs.a.tolist(), qs.b.tolist()))
    assert len(pairs) == 150_000  # distinct as ordered questions
    assert (1, 0) in pairs and (0, 1) in pairs  # both orders: users ask both
    per_stratum = Counter(zip(num_digits(qs.a).tolist(), num_digits(qs.b).tolist()))
    # Every question with operands of at most 2 digits, and of 1 and 3 digits: the strata
    # smaller than an equal share (150,000 / 9) are taken whole.
    for la, lb in [(1, 1), (1, 2), (2, 1), (2, 2), (1, 3), (3, 1)]:
        assert per_stratum[(la, lb)] == stratum_size(la, lb)
    # The rest is shared equally by 2+3, 3+2 and 3+3.
    assert sorted(per_stratum[s] for s in [(2, 3), (3, 2), (3, 3)]) == [40_666, 40_667, 40_667]
    # Not grouped by stratum: the rows come in random order.
    assert len(set(num_digits(qs.a[:20]).tolist())) > 1


def test_balanced_sampling_reaches_every_ordered_question_and_no_further():
    assert distinct_questions(2, operation_named("add"), "balanced") == 10_000
    qs = generate_questions(config("data", digits=2, count=10_000, seed=1, sampling="balanced"))
    assert len(set(zip(qs.a.tolist(), qs.b.tolist()))) == 10_000
    with pytest.raises(
        ConfigError, match=r"data.count is 10,001, but only 10,000 distinct ordered add questions"
    ):
        generate_questions(config("data", digits=2, count=10_001, sampling="balanced"))


@pytest.mark.parametrize("digits", [9, 15])
def test_balanced_sampling_of_vast_strata_stays_distinct_and_in_range(digits):
    qs = generate_questions(
        config("data", digits=digits, count=20_000, seed=2, sampling="balanced")
    )
    assert len(set(zip(qs.a.tolist(), qs.b.tolist()))) == 20_000
    assert qs.a.max() < 10**digits and qs.b.max() < 10**digits
    per_stratum = Counter(zip(num_digits(qs.a).tolist(), num_digits(qs.b).tolist()))
    assert len(per_stratum) == digits * digits
    shares = [n for stratum, n in per_stratum.items() if stratum != (1, 1)]
    assert max(shares) - min(shares) <= 1  # equal shares, but for the remainder
    assert per_stratum[(1, 1)] == min(100, max(shares))
