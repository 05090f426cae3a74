"""A tiny copy of the pipeline in a temporary git repository, driven by the real `dvc`."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from .conftest import ROOT, write_params

# Every stage, in the order `dvc repro` runs them. check_params reruns (and its stamp,
# unchanged, reruns nothing) whenever params.yaml changes.
ALL = ["check_params", "generate", "split", "train", "evaluate"]


class Repo:
    def __init__(self, path: Path):
        self.path = path
        self.env = {
            **os.environ,
            # The stages must import the copy's library, so source edits take effect.
            "PYTHONPATH": str(path / "src"),
            "DVC_NO_ANALYTICS": "1",
            "GIT_AUTHOR_NAME": "test",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "test",
            "GIT_COMMITTER_EMAIL": "test@example.com",
            "NO_COLOR": "1",
        }

    def run(self, *cmd: str) -> str:
        result = subprocess.run(cmd, cwd=self.path, env=self.env, capture_output=True, text=True)
        assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def repro(self) -> list[str]:
        """Run `dvc repro`; return the stages that ran, in order."""
        return stages_run(self.run("dvc", "repro"))

    def set_param(self, section: str, key: str, value) -> None:
        params = yaml.safe_load((self.path / "params.yaml").read_text())
        params[section][key] = value
        (self.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def commit(self, message: str) -> None:
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", message)


def tiny_repo(path: Path) -> Repo:
    """The repository's pipeline and code in `path`, with the tiny params, committed."""
    for name in ("dvc.yaml", ".gitignore"):
        shutil.copy(ROOT / name, path / name)
    for folder in ("stages", "src", ".dvc"):
        shutil.copytree(
            ROOT / folder,
            path / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "tmp", "cache"),
        )
    write_params(path / "params.yaml")
    repo = Repo(path)
    repo.run("git", "init", "-q")
    repo.commit("tiny pipeline")
    return repo


def outputs(repo: Repo) -> dict[str, bytes]:
    """Every pipeline output in the workspace, by path: data/ (but the resume state) and
    metrics/."""
    return {
        path.relative_to(repo.path).as_posix(): path.read_bytes()
        for folder in ("data", "metrics")
        for path in sorted((repo.path / folder).rglob("*"))
        if path.is_file() and path.name != ".gitignore" and "train-state" not in path.parts
    }


def cached_and_ran(repo: Repo) -> tuple[list[str], list[str]]:
    """Run `dvc repro`; return the stages restored from the run-cache and the stages that ran."""
    out = repo.run("dvc", "repro")
    return re.findall(r"Stage '(\w+)' is cached - skipping run", out), stages_run(out)


def stages_run(out: str) -> list[str]:
    """The stages DVC's output says it ran, in order."""
    return re.findall(r"Running stage '(\w+)'", out)


def start_stage(repo: Repo, name: str, stdout=subprocess.PIPE) -> subprocess.Popen:
    """Stage `name`'s command as `dvc repro` starts it: its outputs deleted first, and
    DVC_STAGE naming it."""
    stage = yaml.safe_load((repo.path / "dvc.yaml").read_text())["stages"][name]
    for out in stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", []):
        path = repo.path / (out if isinstance(out, str) else next(iter(out)))
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return subprocess.Popen(
        shlex.split(stage["cmd"]),
        cwd=repo.path,
        env={**repo.env, "DVC_STAGE": name},
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@dataclass
class Reproduced:
    """The tiny pipeline, reproduced once and committed; no test changes it (each works on
    a copy): tests/conftest.py's session-scoped `reproduced` fixture."""

    repo: Repo
    ran: list[str]  # the stages the first `dvc repro` ran
    outputs: dict[str, bytes]


def reproduce(path: Path) -> Reproduced:
    """tiny_repo in the new folder `path`, reproduced by `dvc repro` and committed."""
    path.mkdir()
    repo = tiny_repo(path)
    ran = repo.repro()
    repo.commit("first run")
    return Reproduced(repo, ran, outputs(repo))


def copy_of(reproduced: Reproduced, path: Path) -> Repo:
    """A copy of the reproduced and committed repository at `path` (which must not exist),
    with its git history and DVC cache (run-cache included), checked to be as reproduced."""
    subprocess.run(["cp", "-a", str(reproduced.repo.path), str(path)], check=True)
    repo = Repo(path)
    assert repo.run("git", "status", "--porcelain") == "", "the reproduced repository was changed"
    assert outputs(repo) == reproduced.outputs
    return repo
