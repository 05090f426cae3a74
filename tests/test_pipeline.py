"""A tiny `dvc repro` in a temporary copy of the repository: which stages rerun when."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, write_params

pytestmark = pytest.mark.slow

ALL = ["generate", "split", "train", "evaluate"]


class Repo:
    def __init__(self, path: Path):
        self.path = path
        self.env = {
            **os.environ,
            # The stages must import the copy's library, so source edits take effect.
            "PYTHONPATH": str(path / "src"),
            "DVC_NO_ANALYTICS": "1",
            "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
            "NO_COLOR": "1",
        }

    def run(self, *cmd: str) -> str:
        result = subprocess.run(cmd, cwd=self.path, env=self.env, capture_output=True, text=True)
        assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def repro(self) -> list[str]:
        """Run `dvc repro`; return the stages that ran, in order."""
        return re.findall(r"Running stage '(\w+)'", self.run("dvc", "repro"))

    def set_param(self, section: str, key: str, value) -> None:
        params = yaml.safe_load((self.path / "params.yaml").read_text())
        params[section][key] = value
        (self.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Repo:
    path = tmp_path_factory.mktemp("repo")
    for name in ("dvc.yaml", ".gitignore"):
        shutil.copy(ROOT / name, path / name)
    for folder in ("stages", "src", ".dvc"):
        shutil.copytree(
            ROOT / folder, path / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "tmp", "cache"),
        )
    write_params(path / "params.yaml")
    repo = Repo(path)
    repo.run("git", "init", "-q")
    repo.commit("tiny pipeline")
    return repo


def test_first_repro_runs_everything_and_second_has_nothing_to_do(repo):
    assert repo.repro() == ALL
    for out in ("data/questions.npz", "data/longer/digits_3.npz", "data/split/train.npz", "data/model.pt", "data/errors.csv",
                "metrics/evaluate.json", "metrics/train/metrics.json", "metrics/by_carries.csv"):
        assert (repo.path / out).is_file(), out
    assert repo.repro() == []
    assert "up to date" in repo.run("dvc", "status")
    repo.commit("first run")


def test_bad_params_fail_the_stage_and_keep_the_last_good_outputs(repo):
    outputs = ["data/questions.npz", "data/model.pt", "metrics/evaluate.json", "metrics/train/metrics.json"]
    before = {out: (repo.path / out).read_bytes() for out in outputs}
    for section, key, bad, message in [
        ("model", "cell", "lstmm", "model.cell is 'lstmm'"),
        ("data", "count", 10**6, "data.count is 1,000,000"),
    ]:
        good = yaml.safe_load((repo.path / "params.yaml").read_text())[section][key]
        repo.set_param(section, key, bad)
        result = subprocess.run(["dvc", "repro"], cwd=repo.path, env=repo.env, capture_output=True, text=True)
        assert result.returncode != 0
        assert f"error: {message}" in result.stderr + result.stdout
        assert {out: (repo.path / out).read_bytes() for out in outputs} == before
        repo.set_param(section, key, good)
    assert repo.repro() == []


def test_a_misspelled_key_is_reported_not_ignored(repo):
    repo.set_param("model", "hiden_size", 32)
    result = subprocess.run(["dvc", "repro"], cwd=repo.path, env=repo.env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "error: params.yaml: unknown key model.hiden_size" in result.stderr + result.stdout
    params = yaml.safe_load((repo.path / "params.yaml").read_text())
    del params["model"]["hiden_size"]
    (repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert repo.repro() == []


def test_model_key_reruns_train_and_evaluate_and_diffs_show_it(repo):
    repo.set_param("model", "hidden_size", 32)
    assert repo.repro() == ["train", "evaluate"]
    params_diff = repo.run("dvc", "params", "diff", "--json")
    change = json.loads(params_diff)["params.yaml"]["model.hidden_size"]
    assert (change["old"], change["new"]) == (64, 32)
    metrics_diff = json.loads(repo.run("dvc", "metrics", "diff", "--json"))
    # The tiny model is barely trained, so which test metrics moved varies; some must.
    assert any(key.startswith("test.") for key in metrics_diff["metrics/evaluate.json"])
    repo.commit("smaller model")


def test_train_key_reruns_train_and_evaluate(repo):
    repo.set_param("train", "lr", 0.005)
    assert repo.repro() == ["train", "evaluate"]


def test_evaluate_key_reruns_evaluate_only(repo):
    repo.set_param("evaluate", "max_errors", 5)
    assert repo.repro() == ["evaluate"]


def test_split_key_reruns_split_and_downstream(repo):
    repo.set_param("split", "seed", 8)
    assert repo.repro() == ["split", "train", "evaluate"]


def test_data_key_reruns_everything(repo):
    repo.set_param("data", "seed", 8)
    assert repo.repro() == ALL


def test_editing_an_architecture_reruns_train_and_evaluate(repo):
    model = repo.path / "src" / "arith_seq2seq" / "architectures" / "repeat.py"
    model.write_text(model.read_text() + "\n# an edit\n")
    assert repo.repro() == ["train", "evaluate"]
    assert repo.repro() == []


def test_plots_and_metrics_render(repo):
    shown = json.loads(repo.run("dvc", "metrics", "show", "--json"))
    assert shown, "dvc metrics show found no metrics"
    plots = repo.run("dvc", "plots", "show", "--json")
    for title in ("Exact match per epoch", "Test exact match by number of carries"):
        assert title in plots


def test_attention_arch_runs_end_to_end(repo):
    repo.set_param("model", "arch", "attention")
    assert repo.repro() == ["train", "evaluate"]
    metrics = json.loads((repo.path / "metrics" / "evaluate.json").read_text())
    # Unlike the repeat architecture, it answers the longer held-out questions.
    assert isinstance(metrics["longer"]["digits_3"], float)
    assert 0 <= metrics["test"]["exact_match"] <= 1


def test_push_to_a_remote_and_pull_into_a_fresh_clone(repo, tmp_path):
    # The team workflow: one person runs the pipeline and pushes; another clones, pulls
    # and finds everything up to date without running a stage.
    repo.run("dvc", "remote", "add", "-d", "shared", str(tmp_path / "remote"))
    assert repo.repro() in ([], ["train", "evaluate"])
    repo.commit("pipeline results and a shared remote")
    repo.run("dvc", "push")
    clone = Repo(tmp_path / "clone")
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone.path)], check=True, env=repo.env)
    clone.env["PYTHONPATH"] = str(clone.path / "src")
    clone.run("dvc", "pull")
    assert (clone.path / "data" / "model.pt").read_bytes() == (repo.path / "data" / "model.pt").read_bytes()
    assert "up to date" in clone.run("dvc", "status")
    assert clone.repro() == []
