"""Damaged or mismatched input files, through the real entry points that read them.

split reads the questions file; evaluate reads the splits, the longer held-out sets and
the model file; `arith-seq2seq predict` reads the model file. Each refusal must be one line
on stderr that names the file and says what to do, a non-zero exit, and the previous
outputs left byte for byte as they were, with no temporary file beside them.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from arith_seq2seq.cli import main as cli_main
from arith_seq2seq.data import question_set
from arith_seq2seq.data.questions import generate_questions

from .conftest import (
    TINY_PARAMS,
    config,
    evaluate_args,
    rewrite_npz,
    run_stage,
    run_stage_in_process,
    split_args,
    write_params,
)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (hidden ones too) and its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def assert_refused(result, *fragments: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "dvc repro" in lines[0]  # what to do about it
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


DAMAGES = {
    "missing": lambda p: p.unlink(),
    "empty": lambda p: p.write_bytes(b""),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
    "not an npz": lambda p: p.write_text("question,answer\n1+2,3\n"),
    "wrong keys": lambda p: rewrite_npz(p, a=None, b=None),
    "wrong dtype": lambda p: rewrite_npz(p, question=np.load(p)["question"].astype(np.int32)),
    "wrong metadata": lambda p: rewrite_npz(p, reverse=np.str_("no")),
    "wrong shape": lambda p: rewrite_npz(p, answer=np.load(p)["answer"][:, :2]),
    "ids outside the vocabulary": lambda p: rewrite_npz(
        p, question=np.full_like(np.load(p)["question"], 14)
    ),
}


def claim_a_huge_array(path: Path) -> None:
    """Rewrite the .npz with array 'a''s header claiming 10**13 rows (80 TB), data unchanged:
    numpy allocates what a header claims before it reads."""
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    data = members["a.npy"]
    with io.BytesIO(data) as stream:
        np.lib.format.read_magic(stream)
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        body = data[stream.tell() :]
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header,
        {
            "descr": np.lib.format.dtype_to_descr(dtype),
            "fortran_order": fortran,
            "shape": (10**13,),
        },
    )
    members["a.npy"] = header.getvalue() + body
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)


DAMAGES["huge header"] = claim_a_huge_array


def claim_in_the_directory_too(path: Path) -> None:
    """Array 'a''s header claims 2**28 rows (2 GiB) and the zip directory agrees, the data
    unchanged (a few KB): every claim consistent but the file's own size."""
    claim_a_huge_array(path)
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    with io.BytesIO(members["a.npy"]) as stream:
        np.lib.format.read_magic(stream)
        np.lib.format.read_array_header_1_0(stream)
        body = members["a.npy"][stream.tell() :]
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<i8", "fortran_order": False, "shape": (2**28,)}
    )
    members["a.npy"] = header.getvalue() + body
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    # The central directory's uncompressed size of a.npy (offset 24 of its entry).
    data = bytearray(path.read_bytes())
    entry = data.index(b"PK\x01\x02")
    while not data[entry + 46 : entry + 46 + 5] == b"a.npy":
        entry = data.index(b"PK\x01\x02", entry + 4)
    data[entry + 24 : entry + 28] = (len(header.getvalue()) + 8 * 2**28).to_bytes(4, "little")
    path.write_bytes(bytes(data))


DAMAGES["huge directory claim"] = claim_in_the_directory_too
# A 2.9 MB deflate bomb grew to 3 GB before its shape was refused.
DAMAGES["compressed"] = lambda p: (
    np.savez_compressed(p.with_suffix(".tmp.npz"), **dict(np.load(p)))
    or (p.with_suffix(".tmp.npz").replace(p))
)


def add_a_member(path: Path) -> None:
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("notes.txt", "hello")


# A KeyError traceback.
DAMAGES["another member"] = add_a_member

WHAT = {
    "missing": "no such data file",
    "empty": "not a readable .npz file",
    "truncated": "not a readable .npz file",
    "not an npz": "not a readable .npz file",
    "wrong keys": "missing arrays a, b",
    "wrong dtype": "array 'question' has dtype int32, expected uint8",
    "wrong metadata": "'reverse' should be a boolean",
    "wrong shape": "array 'answer' has shape",
    "ids outside the vocabulary": "holds id 14, outside the 14-character vocabulary",
    # It was a MemoryError traceback.
    "huge header": "array 'a' claims shape (10000000000000,) (80,000,000,000,000 bytes) but",
    "huge directory claim": "array 'a' is compressed or claims 2,147,483,776 bytes in a",
    "compressed": "is compressed or claims",
    "another member": "holds 'notes.txt', which is not one of this project's arrays",
}


@pytest.fixture(scope="module")
def split_outputs(tmp_path_factory):
    """A questions file and the split of it that the split stage wrote."""
    folder = tmp_path_factory.mktemp("split")
    params = write_params(folder / "params.yaml")
    question_set.save(
        generate_questions(config("data", **TINY_PARAMS["data"])), folder / "questions.npz"
    )
    out = folder / "out"
    result = run_stage(
        "split",
        *split_args(
            params, folder / "questions.npz", out / "train.npz", out / "val.npz", out / "test.npz"
        ),
    )
    assert result.returncode == 0, result.stderr
    return folder


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_split_refuses_a_damaged_questions_file_and_keeps_its_outputs(
    tmp_path, split_outputs, damage
):
    shutil.copytree(split_outputs, tmp_path, dirs_exist_ok=True)
    questions, out = tmp_path / "questions.npz", tmp_path / "out"
    DAMAGES[damage](questions)
    before = snapshot(out)
    # One of them in a real process of its own, as `dvc repro` runs it.
    runner = run_stage if damage == "truncated" else run_stage_in_process
    result = runner(
        "split",
        *split_args(
            tmp_path / "params.yaml",
            questions,
            out / "train.npz",
            out / "val.npz",
            out / "test.npz",
        ),
    )
    assert_refused(result, f"error: {questions}: ", WHAT[damage])
    assert snapshot(out) == before


def run_evaluate(folder: Path, model: Path, test: Path, longer: Path, runner=run_stage_in_process):
    split = {
        "train": folder / "train.npz",
        "val": folder / "val.npz",
        "test": test,
        "longer": longer,
    }
    return runner("evaluate", *evaluate_args(folder / "params.yaml", model, split, folder / "out"))


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, tiny_split, tiny_model):
    """A folder with a model, a test split, longer sets and the outputs evaluate wrote from them."""
    folder = tmp_path_factory.mktemp("evaluated")
    write_params(folder / "params.yaml")
    shutil.copy(tiny_model, folder / "model.pt")
    for name in ("train", "val", "test"):
        shutil.copy(tiny_split[name], folder / f"{name}.npz")
    shutil.copytree(tiny_split["longer"], folder / "longer")
    result = run_evaluate(
        folder, folder / "model.pt", folder / "test.npz", folder / "longer", runner=run_stage
    )
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture
def evaluation(tmp_path, evaluated):
    """A fresh copy of `evaluated`, and the snapshot of its outputs."""
    shutil.copytree(evaluated, tmp_path, dirs_exist_ok=True)
    return tmp_path, snapshot(tmp_path / "out")


@pytest.mark.parametrize("damage", ["truncated", "wrong keys", "wrong dtype"])
def test_evaluate_refuses_a_damaged_test_file_and_keeps_its_outputs(evaluation, damage):
    folder, before = evaluation
    test = folder / "test.npz"
    DAMAGES[damage](test)
    result = run_evaluate(folder, folder / "model.pt", test, folder / "longer")
    assert_refused(result, f"error: {test}: ", WHAT[damage])
    assert snapshot(folder / "out") == before


def _other_test_set(folder: Path, operation: str) -> Path:
    """A test set of the tiny model's shape (2 digits, 5-character questions, 3-character
    answers) but another operation, hence another vocabulary."""
    cfg = config("data", **{**TINY_PARAMS["data"], "operation": operation, "count": 300})
    path = folder / f"{operation}.npz"
    question_set.save(generate_questions(cfg), path)
    return path


def test_evaluate_refuses_a_test_set_of_another_operation(evaluation):
    folder, before = evaluation
    test = _other_test_set(folder, "sub")
    assert (
        question_set.load(test).question.shape[1:]
        == question_set.load(folder / "test.npz").question.shape[1:]
    )
    result = run_evaluate(folder, folder / "model.pt", test, folder / "longer", runner=run_stage)
    line = assert_refused(
        result, str(folder / "model.pt"), str(test), "add questions", "sub questions"
    )
    assert "' $+0123456789^'" in line and "' $-0123456789^'" in line
    assert snapshot(folder / "out") == before


def test_evaluate_refuses_a_test_set_with_other_vocabulary_characters(evaluation):
    # Same operation, shapes and ids, only the characters behind the ids differ: scoring
    # it would compare the model's answers with different questions than it was asked.
    folder, before = evaluation
    test = folder / "test.npz"
    rewrite_npz(test, vocab=np.str_(" $+9876543210^"))
    result = run_evaluate(folder, folder / "model.pt", test, folder / "longer")
    # Refused as it is read: no file this project writes has another vocabulary.
    assert_refused(
        result, str(test), "'vocab' is ' $+9876543210^', not the add vocabulary ' $+0123456789^'"
    )
    assert snapshot(folder / "out") == before


def test_evaluate_refuses_damaged_or_foreign_longer_sets(evaluation):
    folder, before = evaluation
    longer = folder / "longer" / "digits_3.npz"
    good = longer.read_bytes()
    longer.write_bytes(good[:300])
    assert_refused(
        run_evaluate(folder, folder / "model.pt", folder / "test.npz", folder / "longer"),
        f"error: {longer}: not a readable .npz file",
    )
    assert snapshot(folder / "out") == before
    longer.write_bytes(good)
    rewrite_npz(longer, operation=np.str_("sub"), vocab=np.str_(" $-0123456789^"))
    assert_refused(
        run_evaluate(folder, folder / "model.pt", folder / "test.npz", folder / "longer"),
        str(longer),
        "sub questions",
    )
    assert snapshot(folder / "out") == before


def test_evaluate_refuses_a_missing_longer_sets_folder(evaluation):
    # Was read as "no longer sets" and scored; a missing folder means generate never
    # finished (an empty one is what data.longer_digits: [] gives).
    folder, before = evaluation
    shutil.rmtree(folder / "longer")
    result = run_evaluate(folder, folder / "model.pt", folder / "test.npz", folder / "longer")
    assert_refused(result, f"error: {folder / 'longer'}: no such folder of longer held-out sets")
    assert snapshot(folder / "out") == before


def _model_with(tiny_model: Path, path: Path, **changes) -> Path:
    payload = torch.load(tiny_model, weights_only=True)
    torch.save({**payload, **changes}, path)
    return path


BROKEN_MODELS = {
    "truncated": (
        lambda src, dst: dst.write_bytes(src.read_bytes()[:2000]),
        "not a readable model file",
    ),
    "foreign": (
        lambda src, dst: torch.save({"weights": torch.zeros(3)}, dst),
        "not an arith-seq2seq model file",
    ),
    "other vocabulary characters": (
        lambda src, dst: _model_with(src, dst, vocab=" $+9876543210^"),
        "model file has vocabulary ' $+9876543210^', not the add vocabulary ' $+0123456789^'",
    ),
    "vocabulary of another operation": (
        lambda src, dst: _model_with(src, dst, operation="sub"),
        "not the sub vocabulary",
    ),
    # The mul limit is half the add one (a product has twice the digits): a file claiming
    # more was not written here (it once passed, checked against the add limit).
    "multiplication digits beyond the exact limit": (
        lambda src, dst: _model_with(src, dst, operation="mul", vocab=" $*0123456789^", digits=10),
        "digits 10 and reverse True",
    ),
    "vocabulary too long for the model": (
        lambda src, dst: _model_with(src, dst, vocab=" $+0123456789^xyz"),
        "not the add vocabulary",
    ),
    # Beyond params.yaml's bounds: 22 s and 5.6 GB for 10**8 layers before it failed.
    "layers beyond the bound": (
        lambda src, dst: _model_with(
            src,
            dst,
            model_config={**torch.load(src, weights_only=True)["model_config"], "layers": 10**8},
        ),
        "repeat.layers must be at most 16, got 100000000",
    ),
    # A ValueError traceback.
    "info not a mapping": (
        lambda src, dst: _model_with(src, dst, info="x"),
        "model file's info is a str, not a mapping",
    ),
}


@pytest.mark.parametrize("broken", ["truncated", "foreign", "other vocabulary characters"])
def test_evaluate_refuses_a_broken_model_file_and_keeps_its_outputs(evaluation, tiny_model, broken):
    folder, before = evaluation
    model = folder / "model.pt"
    make, what = BROKEN_MODELS[broken]
    make(tiny_model, model)
    result = run_evaluate(folder, model, folder / "test.npz", folder / "longer")
    assert_refused(result, f"error: {model}: ", what)
    assert snapshot(folder / "out") == before


@pytest.mark.parametrize("broken", sorted(BROKEN_MODELS))
def test_predict_refuses_a_broken_model_file(tmp_path, capsys, tiny_model, broken):
    # Before, a model file with another vocabulary answered every question with
    # confident nonsense (exit 0); a foreign operation raised a KeyError traceback.
    make, what = BROKEN_MODELS[broken]
    model = tmp_path / "model.pt"
    make(tiny_model, model)
    code = cli_main(["predict", "--model", str(model), "12+34", "5+5"])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err.splitlines() == [err.strip()] and err.startswith(f"error: {model}: ")
    assert what in err and "dvc repro" in err


def test_predict_command_exits_2_on_a_model_file_of_another_vocabulary(tmp_path, tiny_model):
    model = _model_with(tiny_model, tmp_path / "model.pt", vocab=" $+9876543210^")
    result = subprocess.run(
        [sys.executable, "-m", "arith_seq2seq.cli", "predict", "--model", str(model), "12+34"],
        capture_output=True,
        text=True,
    )
    assert result.stdout == ""
    assert_refused(result, f"error: {model}: model file has vocabulary")
