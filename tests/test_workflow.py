"""The docs' workflow recipes, run as written on the tiny pipeline: back to the committed
run, sharing through a DVC remote, recovering from a failed `dvc exp run`, each where the
committed results were made on another machine (their `dvc.lock` names outputs that this
machine's DVC cache never had, as on any CPU but the one that made them)."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from .conftest import ROOT
from .dvc_repo import Repo
from .test_docs import code_blocks

# An md5 no cache holds: the committed model of "another machine".
ELSEWHERE = "0123456789abcdef0123456789abcdef"


def bash_lines(page: str) -> list[str]:
    """Every line of the page's ```bash blocks."""
    return [
        line
        for info, body in code_blocks((ROOT / page).read_text())
        if info == "bash"
        for line in body.splitlines()
    ]


def documented(page: str, marker: str) -> str:
    """The one command line of the page's bash blocks that `marker` (a comment or a
    command) picks out, without its comment."""
    found = [line for line in bash_lines(page) if marker in line]
    assert len(found) == 1, f"{page}: {len(found)} bash lines with {marker!r}: {found}"
    return found[0].split("  #")[0].strip()


def sh(repo: Repo, command: str, check: bool = True) -> subprocess.CompletedProcess:
    """A documented command line, run by bash in the repository as a user types it."""
    result = subprocess.run(
        ["bash", "-c", command], cwd=repo.path, env=repo.env, capture_output=True, text=True
    )
    if check:
        assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


def made_elsewhere(repo: Repo) -> None:
    """Commit a dvc.lock whose model (and so whose evaluate inputs) another machine made,
    and leave this machine's own run of the same params in the workspace, as after `dvc
    repro` in a fresh clone on another CPU: `git status` shows dvc.lock changed."""
    own = (repo.path / "dvc.lock").read_text()
    model = re.search(r"- path: data/model.pt\n\s+hash: md5\n\s+md5: (\w+)", own).group(1)
    (repo.path / "dvc.lock").write_text(own.replace(model, ELSEWHERE))
    repo.commit("results made on another machine")
    (repo.path / "dvc.lock").write_text(own)


@pytest.mark.slow
def test_back_to_the_committed_run_when_it_was_made_elsewhere(repo, reproduced):
    made_elsewhere(repo)
    committed_params = (repo.path / "params.yaml").read_bytes()
    repo.run("dvc", "exp", "run", "-S", "repeat.lr=0.02")
    assert (repo.path / "data/model.pt").read_bytes() != reproduced.outputs["data/model.pt"]

    back = documented("docs/experiments.md", "# back to the committed params")
    out = sh(repo, back).stdout
    # This machine's run of the committed params, from the run-cache, not trained again.
    assert "Stage 'train' is cached - skipping run" in out and "Running stage 'train'" not in out, (
        out
    )
    assert (repo.path / "params.yaml").read_bytes() == committed_params
    assert (repo.path / "data/model.pt").read_bytes() == reproduced.outputs["data/model.pt"]
    assert (repo.path / "metrics/evaluate.json").read_bytes() == reproduced.outputs[
        "metrics/evaluate.json"
    ]
    # The workspace is this machine's own run: only the model's md5 differs from the commit.
    assert repo.run("git", "status", "--porcelain").split() == ["M", "dvc.lock"]


@pytest.mark.slow
def test_sharing_through_a_remote_when_the_committed_results_were_made_elsewhere(
    repo, reproduced, tmp_path
):
    """docs/remotes.md's first recipe, line by line: Ana (this copy) shares her own run of
    the committed params, Bo clones and pulls it."""
    subprocess.run(["git", "init", "-q", "--bare", str(tmp_path / "origin")], check=True)
    repo.run("git", "remote", "add", "origin", str(tmp_path / "origin"))
    made_elsewhere(repo)
    repo.run("git", "push", "-q", "-u", "origin", "HEAD")

    block = next(
        body
        for info, body in code_blocks((ROOT / "docs/remotes.md").read_text())
        if info == "bash" and "dvc remote add" in body
    )
    ana, bo = block.split("\n\n")
    for line in ana.splitlines():
        sh(repo, line.replace("/path/to/shared/folder", str(tmp_path / "store")).split("  #")[0])

    bob = Repo(tmp_path / "bo")
    for line in bo.splitlines():
        command = line.split("  #")[0].strip()
        if command.startswith("git clone"):  # `git clone <repo> && cd <repo>`
            subprocess.run(
                ["git", "clone", "-q", str(tmp_path / "origin"), str(bob.path)], check=True
            )
        else:
            sh(bob, command)
    assert "up to date" in bob.run("dvc", "status")
    assert (bob.path / "data/model.pt").read_bytes() == reproduced.outputs["data/model.pt"]
    assert bob.run("git", "status", "--porcelain") == ""


@pytest.mark.slow
def test_a_failed_exp_run_is_undone_by_the_documented_recovery(repo):
    """`dvc exp run -S` with a bad value leaves it in params.yaml, and when the value has the
    committed one's length git often does not see it (docs/reliability.md says why); the
    documented recovery restores the committed file every time."""
    repo.set_param("repeat", "precision", "auto")  # `bf16` has its length
    repo.commit("precision auto")
    committed = (repo.path / "params.yaml").read_bytes()
    recovery = documented("docs/reliability.md", "git show HEAD:params.yaml > params.yaml")
    for _ in range(3):
        failed = sh(repo, "dvc exp run -S repeat.precision=bf16", check=False)
        assert (
            failed.returncode != 0 and "repeat.precision is 'bf16'" in failed.stderr + failed.stdout
        )
        assert b"precision: bf16" in (repo.path / "params.yaml").read_bytes()
        sh(repo, recovery)
        assert (repo.path / "params.yaml").read_bytes() == committed
        assert repo.run("git", "status", "--porcelain", "params.yaml") == ""
        assert "repeat.precision" not in repo.run("dvc", "params", "diff")


@pytest.mark.parametrize(
    "page",
    [
        "docs/experiments.md",
        "docs/team-workflow.md",
        "docs/architectures.md",
        "docs/length-generalisation.md",
        "docs/reliability.md",
        "README.md",
    ],
)
def test_no_page_goes_back_with_a_command_that_can_fail(page):
    """`dvc checkout` fails where the committed outputs are not in the cache (every machine
    but the one that made them), and `git checkout -- params.yaml` can miss a failed
    experiment's value: the pages use the recovery that always works."""
    text = (ROOT / page).read_text()
    for line in bash_lines(page):
        assert "dvc checkout" not in line and "git checkout -- params.yaml" not in line, (
            page,
            line,
        )
    assert "git checkout -- . && dvc checkout" not in text


def test_the_artifact_labels_are_those_dvc_yaml_gives():
    labels = yaml.safe_load((ROOT / "dvc.yaml").read_text())["artifacts"]["arith-model"]["labels"]
    text = " ".join((ROOT / "docs/remotes.md").read_text().split())
    listed = ", ".join(f"`{label}`" for label in labels[:-1]) + f" and `{labels[-1]}`"
    assert f"labelled {listed}" in text
