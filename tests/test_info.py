"""`arith-seq2seq info`: a model file's own description, read without torch.load and
without running anything the file holds."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from arith_seq2seq.cli import main
from arith_seq2seq.model import model_file

BIN = Path(sys.executable).parent


def info(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "arith-seq2seq"), "info", *args], cwd=cwd, capture_output=True, text=True
    )


def test_info_is_what_the_file_holds(tiny_model):
    payload = torch.load(tiny_model, weights_only=True)
    read = model_file.read_info(tiny_model)
    assert read == {k: v for k, v in payload.items() if k != "state_dict"} | {
        "weights": sum(t.numel() for t in payload["state_dict"].values())
    }

    out = info("--model", str(tiny_model))
    assert out.returncode == 0 and out.stderr == "", out.stderr
    lines = dict(
        line.split(None, 1)
        if not line.startswith(("model file", "whole space", "test split"))
        else (line[:12].strip(), line[12:].strip())
        for line in out.stdout.splitlines()
    )
    assert lines["architecture"].startswith("repeat (cell lstm, hidden_size 64")
    assert lines["operation"] == "add: a+b, operands of up to 2 digits, read reversed"
    assert lines["precision"] == payload["info"]["precision"]
    assert f"{payload['info']['best_val_exact_match']:.4f}" in lines["validation"]
    assert lines["scores"].startswith("none recorded")  # no dvc.lock scored it

    as_json = json.loads(info("--model", str(tiny_model), "--json").stdout)
    assert as_json["model_config"] == payload["model_config"] and as_json["scores"] is None


@pytest.mark.slow
def test_info_of_the_pipelines_model_has_its_scores(repo, tiny_model):
    """In a reproduced pipeline, with no --model: dvc.yaml's model, and the evaluate
    stage's scores of it, which dvc.lock records for this very file."""
    out = info(cwd=repo.path / "data")
    assert out.returncode == 0, out.stderr
    metrics = json.loads((repo.path / "metrics/evaluate.json").read_text())
    space, test = metrics["space"], metrics["test"]
    assert f"whole space   {space['errors']:,} wrong of {space['questions']:,}" in out.stdout
    assert f"test split    {test['n_errors']:,} wrong of {test['n_samples']:,}" in out.stdout
    # Another model in its place: those scores are not its scores.
    other = model_file.load(tiny_model)
    other.info["best_epoch"] = 1
    model_file.save(repo.path / "data/model.pt", other)
    assert "none recorded" in info(cwd=repo.path).stdout


class Planted:
    """A pickle that would run `touch` if unpickled with pickle.load."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def _zip(path: Path, record: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", record)
    return path


def bad_files(tmp: Path, model: Path) -> dict[str, tuple[Path, str]]:
    """name: (file, what its one line says)."""
    foreign = io.BytesIO()
    torch.save({"format": "someone-else/1", "weights": torch.zeros(2)}, foreign)
    (tmp / "foreign.pt").write_bytes(foreign.getvalue())
    (tmp / "text.pt").write_text("not a model\n")
    torch.save({"format": model_file.FILE_VERSION, "operation": ["add"]}, tmp / "partial.pt")
    (tmp / "truncated.pt").write_bytes(model.read_bytes()[: len(model.read_bytes()) // 2])
    return {
        "missing": (tmp / "nothing.pt", "no such model file"),
        "text": (tmp / "text.pt", "not a readable model file"),
        "truncated": (tmp / "truncated.pt", "not a readable model file"),
        "foreign": (tmp / "foreign.pt", "not an arith-seq2seq model file"),
        # The right tag, the rest missing or mistyped: a traceback (KeyError, TypeError) before.
        "partial": (
            tmp / "partial.pt",
            "model file is incomplete or damaged (model_config, operation, digits, reverse, "
            "info missing or of the wrong type)",
        ),
        "code": (_zip(tmp / "code.pt", pickle.dumps(Planted(tmp / "ran"))), "names posix.system"),
    }


def test_a_bad_file_gets_one_line_and_exit_status_2(tiny_model, tmp_path, capsys):
    # The command's own main() in this process (the entry point is the other tests'), so
    # five files cost no five interpreters.
    for name, (path, says) in bad_files(tmp_path, tiny_model).items():
        code = main(["info", "--model", str(path)])
        out, err = capsys.readouterr()
        assert code == 2, (name, out, err)
        assert out == "" and len(err.splitlines()) == 1, (name, err)
        assert err.startswith(f"error: {path}: ") and says in err, (name, err)
    assert not (tmp_path / "ran").exists(), "the planted pickle ran"
