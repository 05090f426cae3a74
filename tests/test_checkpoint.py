import numpy as np
import pytest
import torch

from arith_seq2seq.data import question_set
from arith_seq2seq.data.question_format import QuestionFormat
from arith_seq2seq.model import answering, model_file
from arith_seq2seq.pipeline.errors import DataFileError


def test_model_file_rebuilds_the_same_model(tiny_model, tiny_split):
    trained = model_file.load(tiny_model)
    assert trained.format == QuestionFormat("add", 2, True) and trained.format.vocab.chars == " $+0123456789^"
    assert trained.model.spec.params.arch == "repeat"
    test = question_set.load(tiny_split["test"])
    first, confidence = answering.predict(trained.model, test.question)
    again, _ = answering.predict(model_file.load(tiny_model).model, test.question, batch_size=7)
    np.testing.assert_array_equal(first, again)
    assert first.shape == test.answer.shape and confidence.shape == (len(test),)


def test_missing_corrupt_and_foreign_model_files(tmp_path, tiny_model):
    with pytest.raises(DataFileError, match="no such model file"):
        model_file.load(tmp_path / "none.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(tiny_model.read_bytes()[:1000])
    with pytest.raises(DataFileError, match="not a readable model file"):
        model_file.load(truncated)
    for name, content in [("empty.pt", b""), ("text.pt", b"hello"), ("noise.pt", bytes(range(256)) * 8)]:
        broken = tmp_path / name
        broken.write_bytes(content)
        with pytest.raises(DataFileError, match="not a readable model file") as info:
            model_file.load(broken)
        # torch's own advice (load with weights_only=False) would run code from the file.
        assert "weights_only" not in str(info.value)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(DataFileError, match="not an arith-seq2seq model file"):
        model_file.load(foreign)
    mismatched = tmp_path / "mismatched.pt"
    payload = torch.load(tiny_model, weights_only=True)
    payload["model_config"]["hidden_size"] = 8
    torch.save(payload, mismatched)
    with pytest.raises(DataFileError, match="does not match its config"):
        model_file.load(mismatched)


def test_saving_the_same_model_twice_gives_identical_bytes(tmp_path, tiny_model):
    # DVC hashes the model file: identical training must give an identical file, or
    # evaluate reruns for nothing. (torch.save once named its archive after the random
    # temporary file used for the atomic write.)
    trained = model_file.load(tiny_model)
    first, second = tmp_path / "a" / "model.pt", tmp_path / "b" / "model.pt"
    model_file.save(first, trained)
    model_file.save(second, trained)
    assert first.read_bytes() == second.read_bytes()
