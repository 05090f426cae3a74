"""DVC experiments on the tiny pipeline: queued and run two at a time, --temp, compared,
kept (apply, branch) and shared through a git remote and a DVC remote (push, pull)."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest
import yaml

from .dvc_repo import Repo, copy_of, stages_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(reproduced, tmp_path_factory) -> Repo:
    """A copy of the session's reproduced tiny pipeline (tests/conftest.py), with the
    shared places committed: a bare git repository and a DVC remote folder. This module's
    tests share it; each leaves it at the baseline commit."""
    repo = copy_of(reproduced, tmp_path_factory.mktemp("experiments") / "repo")
    shared = tmp_path_factory.mktemp("shared")
    subprocess.run(["git", "init", "-q", "--bare", str(shared / "git")], check=True)
    repo.run("git", "remote", "add", "origin", str(shared / "git"))
    repo.run("dvc", "remote", "add", "-d", "store", str(shared / "dvc"))
    repo.commit("baseline")
    yield repo
    # The queue's workers stop once idle; do not leave them to find out.
    subprocess.run(
        ["dvc", "queue", "stop", "--kill"], cwd=repo.path, env=repo.env, capture_output=True
    )


def experiments(repo: Repo) -> dict[str, dict]:
    """`dvc exp show --json`: {experiment name: its params.yaml params and metrics}."""
    found = {}
    for baseline in json.loads(repo.run("dvc", "exp", "show", "--json")):
        for exp in baseline.get("experiments") or []:
            for rev in exp["revs"]:
                data = rev.get("data") or {}
                found[rev["name"]] = {
                    "params": data.get("params", {}).get("params.yaml", {}).get("data", {}),
                    "metrics": data.get("metrics", {}),
                }
    return found


def wait_for_queue(repo: Repo, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = repo.run("dvc", "queue", "status")
        if not re.search(r"\b(Queued|Running)\b", status):
            return status
        time.sleep(2)
    raise AssertionError(f"the queue did not finish in {timeout} s:\n{status}")


@pytest.fixture(scope="module")
def queued(repo) -> tuple[str, str, str]:
    """A --temp experiment (temp-run, repeat.lr=0.03), then three queued and run two at a
    time: lr-0.005 and lr-0.02, and temp-again with temp-run's params. What the --temp run
    and `dvc queue start` printed, and the queue's status once they ended. Made once (one
    queue, one set of workers) for the tests that need them, whichever runs first (or alone)."""
    temp = repo.run("dvc", "exp", "run", "--temp", "-S", "repeat.lr=0.03", "-n", "temp-run")
    for lr in (0.005, 0.02):
        repo.run("dvc", "exp", "run", "--queue", "-S", f"repeat.lr={lr}", "-n", f"lr-{lr}")
    repo.run("dvc", "exp", "run", "--queue", "-S", "repeat.lr=0.03", "-n", "temp-again")
    started = repo.run("dvc", "queue", "start", "-j", "2")
    return temp, started, wait_for_queue(repo)


def test_two_queued_experiments_run_at_once_and_reuse_the_workspace_data(repo, queued):
    _, started, status = queued
    assert "Started '2' new experiments task queue workers" in started
    assert len(re.findall(r"\bSuccess\b", status)) == 3, status

    found = experiments(repo)
    for lr in (0.005, 0.02):
        exp = found[f"lr-{lr}"]
        assert exp["params"]["repeat"]["lr"] == lr
        assert 0 <= exp["metrics"]["metrics/evaluate.json"]["data"]["space"]["exact_match"] <= 1
        assert "val" in exp["metrics"]["metrics/train/metrics.json"]["data"]
        log = repo.run("dvc", "queue", "logs", f"lr-{lr}")
        # generate and split are the workspace's, from the DVC cache: neither ran again.
        assert "Running stage 'generate'" not in log and "Running stage 'split'" not in log, log
        assert "Running stage 'train'" in log


def test_a_temp_experiment_and_a_queued_repeat_come_from_the_run_cache(repo, queued):
    temp, _, _ = queued
    assert "Running stage 'train'" in temp
    found = experiments(repo)
    assert "temp-run" in found
    # The same params again, queued: every stage is restored, none runs.
    log = repo.run("dvc", "queue", "logs", "temp-again")
    assert "Running stage" not in log
    assert "Stage 'train' is cached - skipping run, checking out outputs" in log
    assert found["temp-again"]["metrics"] == found["temp-run"]["metrics"]


def test_keep_an_experiment_and_share_it_through_remotes(repo, queued, tmp_path):
    exp = experiments(repo)["lr-0.02"]
    repo.run("dvc", "exp", "apply", "lr-0.02")
    assert yaml.safe_load((repo.path / "params.yaml").read_text())["repeat"]["lr"] == 0.02
    shown = json.loads((repo.path / "metrics" / "evaluate.json").read_text())
    assert shown == exp["metrics"]["metrics/evaluate.json"]["data"]
    model = (repo.path / "data" / "model.pt").read_bytes()
    # Its model is in the workspace: nothing to run.
    assert repo.repro() == []
    repo.run("dvc", "exp", "branch", "lr-0.02", "keep-lr")
    assert "keep-lr" in repo.run("git", "branch", "--list", "keep-lr")
    # Back to the baseline.
    repo.run("git", "checkout", "-q", "--", ".")
    repo.run("dvc", "checkout", "-q")
    assert repo.repro() == []

    # Shared: the experiment's commit to the git remote, its outputs to the DVC remote.
    repo.run("git", "push", "-q", "origin", "HEAD")
    repo.run("dvc", "exp", "push", "origin", "lr-0.02")
    clone = Repo(tmp_path / "clone")
    url = repo.run("git", "remote", "get-url", "origin").strip()
    subprocess.run(["git", "clone", "-q", url, str(clone.path)], check=True, env=repo.env)
    clone.env = {**repo.env, "PYTHONPATH": str(clone.path / "src")}
    assert "lr-0.02" not in experiments(clone)
    clone.run("dvc", "exp", "pull", "origin", "lr-0.02")
    assert experiments(clone)["lr-0.02"]["metrics"] == exp["metrics"]
    clone.run("dvc", "exp", "apply", "lr-0.02")
    # The model came from the DVC remote: the clone has it without training.
    assert (clone.path / "data" / "model.pt").read_bytes() == model
    assert clone.repro() == []


def test_an_experiment_on_an_architecture_not_chosen_trains_nothing(repo):
    # dvc.yaml's train stage lists only the section model.arch names (${model.arch}): an
    # experiment on another architecture's section reruns check_params and nothing else,
    # and its metrics are the baseline's.
    baseline = json.loads((repo.path / "metrics" / "evaluate.json").read_text())
    out = repo.run("dvc", "exp", "run", "--temp", "-S", "columns.lr=0.005", "-n", "other-arch")
    assert stages_run(out) == ["check_params"], out
    exp = experiments(repo)["other-arch"]
    assert exp["metrics"]["metrics/evaluate.json"]["data"] == baseline
