"""What a broken params.yaml or a badly timed kill does to the last good outputs, through
the real `dvc repro` on a copy of the tiny reproduced repository (tests/conftest.py's
`repo`, a copy of each test's own)."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import yaml

from .dvc_repo import Repo, outputs, stages_run, start_stage

pytestmark = pytest.mark.slow


def failed_repro(repo: Repo) -> str:
    result = subprocess.run(
        ["dvc", "repro"], cwd=repo.path, env=repo.env, capture_output=True, text=True
    )
    assert result.returncode != 0, result.stdout
    return result.stdout + result.stderr


def params(repo: Repo) -> dict:
    return yaml.safe_load((repo.path / "params.yaml").read_text())


def write(repo: Repo, values: dict | None) -> None:
    (repo.path / "params.yaml").write_text(
        "" if values is None else yaml.safe_dump(values, sort_keys=False)
    )


def untracked(repo: Repo) -> list[str]:
    return [
        line[3:]
        for line in repo.run("git", "status", "--porcelain", "--untracked-files=all").splitlines()
        if line.startswith("??")
    ]


def renamed(section: str):
    return lambda p: {(f"x{k}" if k == section else k): v for k, v in p.items()}


@pytest.mark.parametrize(
    "change, message, ran",
    [
        # A missing or misspelled section stops DVC as it reads dvc.yaml (each stage's desc
        # quotes a key of every section it reads), before any stage runs.
        (
            lambda p: {("trian" if k == "train" else k): v for k, v in p.items()},
            "ERROR: failed to parse 'stages.train.desc' in 'dvc.yaml': Could not find 'train.seed'",
            [],
        ),
        (
            lambda p: {k: v for k, v in p.items() if k != "evaluate"},
            "Could not find 'evaluate.seed'",
            [],
        ),
        (lambda p: None, "Could not find 'data.operation'", []),
        # A section of an architecture model.arch does not name: every architecture's
        # section must be there, ready for `-S model.arch=...`.
        (
            lambda p: {k: v for k, v in p.items() if k != "aligned"},
            "Could not find 'aligned.lr'",
            [],
        ),
        # Passed `dvc repro` silently until some stage reran.
        (
            lambda p: {**p, "extra": {"x": 1}},
            "error: params.yaml: unknown section 'extra'",
            ["check_params"],
        ),
    ],
    ids=["misspelled", "evaluate missing", "empty", "aligned missing", "unknown"],
)
def test_a_broken_params_file_is_named_and_keeps_every_output(repo, change, message, ran):
    before, good = outputs(repo), params(repo)
    write(repo, change(good))
    out = failed_repro(repo)
    assert message in out
    assert stages_run(out) == ran, "no other stage is touched"
    assert outputs(repo) == before  # the model byte for byte, metrics, curves, data
    assert untracked(repo) == []
    write(repo, good)
    assert repo.repro() == []


def test_a_missing_section_under_repro_s_keeps_every_output(repo):
    # `dvc repro -s STAGE` skips check_params. DVC deleted the stage's outputs (the model,
    # the curves, the git-tracked metrics.json), then failed on the missing params before
    # the stage's command could put them back.
    before, good = outputs(repo), params(repo)
    for stage, section in [
        ("generate", "data"),
        ("split", "split"),
        ("train", "train"),
        ("train", "model"),
        ("train", good["model"]["arch"]),
        ("evaluate", "evaluate"),
    ]:
        write(repo, renamed(section)(good))
        result = subprocess.run(
            ["dvc", "repro", "-s", stage],
            cwd=repo.path,
            env=repo.env,
            capture_output=True,
            text=True,
        )
        assert outputs(repo) == before, (stage, section)
        assert result.returncode != 0 and f"Could not find '{section}." in result.stderr, (
            stage,
            section,
        )
    write(repo, good)
    assert repo.repro() == []


def test_a_kill_after_the_model_is_written_costs_no_training(repo):
    # The train stage ran to its end but DVC was stopped before recording it: the new
    # model beside the old dvc.lock. That is the same as running the stage's command by hand.
    repo.set_param("repeat", "lr", 0.02)
    assert repo.run("dvc", "repro", "check_params")  # (its stamp is the same as before)
    command = yaml.safe_load((repo.path / "dvc.yaml").read_text())["stages"]["train"]["cmd"]
    subprocess.run(
        command, shell=True, cwd=repo.path, env=repo.env, check=True, capture_output=True
    )
    model = (repo.path / "data" / "model.pt").read_bytes()
    # DVC's .gitignore in metrics/train was deleted with the old curves: git showed the
    # new, DVC-cached curves as untracked files.
    assert untracked(repo) == []
    assert (repo.path / "metrics" / "train" / ".gitignore").is_file()

    out = repo.run("dvc", "repro")
    assert "holds this training (same params, data and code), finished; not training again" in out
    assert "Epoch " not in out
    assert stages_run(out) == ["train", "evaluate"]
    assert (repo.path / "data" / "model.pt").read_bytes() == model
    assert "up to date" in repo.run("dvc", "status")
    assert untracked(repo) == []


# The first stage `dvc repro` reruns after an edit of each package: check_params (data, and
# pipeline), train (training, and model), evaluate (evaluation). DVC has deleted its outputs
# when the import fails.
@pytest.mark.parametrize("package", ["data", "training", "evaluation"])
def test_a_syntax_error_in_the_library_keeps_every_output(repo, package):
    before = outputs(repo)
    source = repo.path / "src" / "arith_seq2seq" / package / "__init__.py"
    good = source.read_text()
    source.write_text(good + "\ndef broken(:\n")
    out = failed_repro(repo)
    assert "SyntaxError" in out
    assert outputs(repo) == before  # the model byte for byte, metrics, curves, data
    assert [line[3:] for line in repo.run("git", "status", "--porcelain").splitlines()] == [
        f"src/arith_seq2seq/{package}/__init__.py"
    ]
    source.write_text(good)
    assert repo.repro() == []


def test_a_stage_killed_or_interrupted_during_its_imports_keeps_every_output(repo):
    before = outputs(repo)
    # kill -9 at moments within the train stage's imports (about 2 s here, the outputs
    # back after about 0.05 s): each time, every output is in place.
    for after in (0.1, 0.4, 1.0):
        proc = start_stage(repo, "train")
        time.sleep(after)
        assert proc.poll() is None, f"the stage ended within {after} s"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert outputs(repo) == before, after
    # Ctrl-C once its outputs are back, during evaluate's imports: one line, status 130.
    proc = start_stage(repo, "evaluate")
    while not (repo.path / "metrics" / "evaluate.json").exists() and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (
        130,
        "interrupted; the outputs are as they were before this run\n",
    )
    assert outputs(repo) == before
    assert repo.repro() == []
