import numpy as np
import pytest

from arith_seq2seq import datasets
from arith_seq2seq.config import DataConfig, SplitConfig
from arith_seq2seq.errors import ConfigError, DataFileError
from arith_seq2seq.questions import generate_questions


@pytest.fixture
def questions():
    return generate_questions(DataConfig(digits=2, count=1000, seed=3))


def test_save_load_round_trip(tmp_path, questions):
    path = tmp_path / "q.npz"
    datasets.save(questions, path)
    loaded = datasets.load(path)
    for name in ("question", "answer", "a", "b"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(questions, name))
    assert (loaded.digits, loaded.reverse, loaded.vocab) == (2, True, questions.vocab)
    assert [p.name for p in tmp_path.iterdir()] == ["q.npz"]  # no temporary left behind


def test_split_is_disjoint_complete_and_deterministic(questions):
    cfg = SplitConfig(val_fraction=0.1, test_fraction=0.2, seed=9)
    train, val, test = datasets.split(questions, cfg)
    assert (len(train), len(val), len(test)) == (700, 100, 200)
    keys = [set(zip(p.a.tolist(), p.b.tolist())) for p in (train, val, test)]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
    assert len(keys[0] | keys[1] | keys[2]) == len(questions)
    again = datasets.split(questions, cfg)
    for first, second in zip((train, val, test), again):
        np.testing.assert_array_equal(first.question, second.question)
    other = datasets.split(questions, SplitConfig(val_fraction=0.1, test_fraction=0.2, seed=10))
    assert not np.array_equal(other[2].a, test.a)


def test_split_that_leaves_a_part_empty_is_refused(questions):
    tiny = questions.take(np.arange(5))
    with pytest.raises(ConfigError, match="validation split of 5 questions would be empty"):
        datasets.split(tiny, SplitConfig(val_fraction=0.05, test_fraction=0.5))


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="no such data file; run `dvc repro`"):
        datasets.load(tmp_path / "nope.npz")


def test_truncated_file(tmp_path, questions):
    path = tmp_path / "q.npz"
    datasets.save(questions, path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataFileError, match="not a readable .npz file"):
        datasets.load(path)


def test_wrong_keys_and_wrong_dtype(tmp_path, questions):
    path = tmp_path / "q.npz"
    np.savez(path, question=questions.question)
    with pytest.raises(DataFileError, match="missing arrays a, answer, b"):
        datasets.load(path)
    datasets.save(questions, path)
    content = dict(np.load(path))
    content["a"] = content["a"].astype(np.float32)
    np.savez(path, **content)
    with pytest.raises(DataFileError, match="array 'a' has dtype float32, expected int64"):
        datasets.load(path)


def test_ids_outside_the_vocabulary(tmp_path, questions):
    path = tmp_path / "q.npz"
    datasets.save(questions, path)
    content = dict(np.load(path))
    content["vocab"] = np.str_("0123")
    np.savez(path, **content)
    with pytest.raises(DataFileError, match="outside the 4-character vocabulary"):
        datasets.load(path)


def test_wrong_format_version_is_reported_even_when_not_a_number(tmp_path, questions):
    path = tmp_path / "q.npz"
    datasets.save(questions, path)
    content = dict(np.load(path))
    for version in (np.int64(1), np.array([2, 2])):
        content["format_version"] = version
        np.savez(path, **content)
        with pytest.raises(DataFileError, match="format version .*this code reads 2"):
            datasets.load(path)
