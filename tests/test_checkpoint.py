import numpy as np
import pytest
import torch

from arith_seq2seq.data import question_set
from arith_seq2seq.data.operations import operation_named
from arith_seq2seq.data.question_format import QuestionFormat
from arith_seq2seq.model import answering, model_file
from arith_seq2seq.pipeline.errors import DataFileError


def test_model_file_rebuilds_the_same_model(tiny_model, tiny_split):
    trained = model_file.load(tiny_model)
    assert (
        trained.format == QuestionFormat(operation_named("add"), 2, True)
        and trained.format.vocab.chars == " $+0123456789^"
    )
    assert trained.model.spec.config.arch == "repeat"
    test = question_set.load(tiny_split["test"])
    first, confidence = answering.answer_questions(trained.model, test.question)
    again, _ = answering.answer_questions(
        model_file.load(tiny_model).model, test.question, batch_size=7
    )
    np.testing.assert_array_equal(first, again)
    assert first.shape == test.answer.shape and confidence.shape == (len(test),)


def test_missing_corrupt_and_foreign_model_files(tmp_path, tiny_model):
    with pytest.raises(DataFileError, match="no such model file"):
        model_file.load(tmp_path / "none.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(tiny_model.read_bytes()[:1000])
    with pytest.raises(DataFileError, match="not a readable model file"):
        model_file.load(truncated)
    for name, content in [
        ("empty.pt", b""),
        ("text.pt", b"hello"),
        ("noise.pt", bytes(range(256)) * 8),
    ]:
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


def test_the_model_file_is_format_3_and_stores_the_network_of_its_arch(tmp_path, tiny_model):
    payload = torch.load(tiny_model, weights_only=True)
    assert payload["format"] == model_file.FILE_VERSION == "arith-seq2seq/model/4"
    config = payload["model_config"]
    assert (
        config["arch"],
        config["cell"],
        config["hidden_size"],
        config["layers"],
        config["embedding_dim"],
    ) == ("repeat", "lstm", 64, 1, 0)
    assert "decoder_layers" not in config
    # A file of the earlier format (it stored decoder_layers) is refused with one line.
    old = tmp_path / "old.pt"
    torch.save({**payload, "format": "arith-seq2seq/model/2"}, old)
    with pytest.raises(
        DataFileError,
        match=r"not an arith-seq2seq model file \(expected format 'arith-seq2seq/model/4'\)",
    ):
        model_file.load(old)
    # An architecture this code does not know.
    unknown = tmp_path / "unknown.pt"
    torch.save({**payload, "model_config": {**config, "arch": "transformer"}}, unknown)
    with pytest.raises(DataFileError, match="incomplete or does not match its config"):
        model_file.load(unknown)


@pytest.mark.parametrize("arch, operation", [("aligned", "sub"), ("columns", "mul")])
def test_a_digit_column_model_file_rebuilds_the_same_model(tmp_path, arch, operation):
    from arith_seq2seq.data.questions import generate_questions
    from arith_seq2seq.model import ModelSpec, build
    from arith_seq2seq.model.model_file import TrainedModel

    from .conftest import config

    torch.manual_seed(0)
    model = build(
        ModelSpec(config("model", arch=arch), QuestionFormat(operation_named(operation), 3, True))
    ).eval()
    path = tmp_path / "model.pt"
    model_file.save(path, TrainedModel(model=model, info={}))
    loaded = model_file.load(path)
    assert loaded.model.config == model.config == config(arch)
    assert set(torch.load(path, weights_only=True)["model_config"]) >= {
        f for f in vars(model.config)
    }
    qs = generate_questions(config("data", operation=operation, count=200, seed=1))
    np.testing.assert_array_equal(
        answering.answer_questions(loaded.model, qs.question)[0],
        answering.answer_questions(model, qs.question)[0],
    )
