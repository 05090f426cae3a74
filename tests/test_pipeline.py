"""A tiny `dvc repro` in a temporary copy of the repository: which stages rerun when."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
    assert "space.errors" in metrics_diff["metrics/evaluate.json"]
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
    table = repo.run("dvc", "metrics", "show")
    for key in ("space.exact_match", "space.errors", "space.unseen.exact_match", "space.worst.digits"):
        assert key in table
    plots = repo.run("dvc", "plots", "show", "--json")
    for title in ("Exact match per epoch", "Test exact match by number of carries"):
        assert title in plots
    # The map of the question space is an image plot: shown, and diffed side by side.
    images = json.loads(plots)["data"]["metrics/space.png"]
    assert [image["type"] for image in images] == ["image"]
    diffed = json.loads(repo.run("dvc", "plots", "diff", "HEAD", "--json"))["data"]["metrics/space.png"]
    assert len(diffed) == 2 and {image["revisions"][0] for image in diffed} == {"HEAD", "workspace"}


def test_attention_arch_runs_end_to_end(repo):
    repo.set_param("model", "arch", "attention")
    assert repo.repro() == ["train", "evaluate"]
    metrics = json.loads((repo.path / "metrics" / "evaluate.json").read_text())
    # Unlike the repeat architecture, it answers the longer held-out questions.
    assert isinstance(metrics["longer"]["digits_3"], float)
    assert 0 <= metrics["test"]["exact_match"] <= 1


@dataclass
class Remote:
    """A DVC remote for the round trip: how to configure it and how to list what it holds."""

    name: str
    url: str
    list_objects: Callable[[], set[str]]  # paths of the stored objects, relative to `url`
    settings: dict[str, str] = field(default_factory=dict)  # committed: `dvc remote modify`
    secrets: dict[str, str] = field(default_factory=dict)  # each clone's: `dvc remote modify --local`
    drop_env: tuple[str, ...] = ()  # prefixes of variables withheld from the dvc commands
    env: dict[str, str] = field(default_factory=dict)  # variables added for the dvc commands

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        return {**{k: v for k, v in base.items() if not k.startswith(self.drop_env)}, **self.env}

    def configure(self, repo: Repo, *, add: bool) -> None:
        if add:
            repo.run("dvc", "remote", "add", "-d", self.name, self.url)
            for key, value in self.settings.items():
                repo.run("dvc", "remote", "modify", self.name, key, value)
        for key, value in self.secrets.items():
            repo.run("dvc", "remote", "modify", "--local", self.name, key, value)


S3_BUCKET, S3_PREFIX, S3_REGION = "arith-seq2seq", "dvc-store", "us-east-1"


def moto_s3_remote(folder: Path) -> Iterator[Remote]:
    """An empty S3 bucket on moto's server, run in this process on a free port of 127.0.0.1."""
    try:
        import boto3
        from moto.server import ThreadedMotoServer
    except ImportError as error:
        pytest.skip(f"S3 remote: moto's server cannot be imported ({error}); pip install -e '.[dev]' installs it")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    # start() returns once its thread has bound the port, and never if binding fails (the
    # thread dies): wait for it here with a limit.
    starting = threading.Thread(target=server.start, daemon=True)
    starting.start()
    starting.join(timeout=30)
    if starting.is_alive():
        pytest.skip("S3 remote: moto's server did not start listening on 127.0.0.1 within 30 s")
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        keys = {"access_key_id": "test-key-id", "secret_access_key": "test-secret-key"}
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, region_name=S3_REGION,
            aws_access_key_id=keys["access_key_id"], aws_secret_access_key=keys["secret_access_key"],
        )
        s3.create_bucket(Bucket=S3_BUCKET)

        def list_objects() -> set[str]:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=S3_BUCKET, Prefix=f"{S3_PREFIX}/")
            return {item["Key"].removeprefix(f"{S3_PREFIX}/") for page in pages for item in page.get("Contents", [])}

        yield Remote(
            "s3", f"s3://{S3_BUCKET}/{S3_PREFIX}", list_objects,
            settings={"endpointurl": endpoint, "region": S3_REGION},
            secrets=keys,
            # Only the keys above, whatever AWS_* variables or ~/.aws files the machine has,
            # and never a request for the instance metadata of a real AWS machine.
            drop_env=("AWS_",),
            env={
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": str(folder / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(folder / "no-aws-credentials"),
            },
        )
    finally:
        server.stop()


@pytest.fixture
def remote(request, tmp_path) -> Iterator[Remote]:
    if request.param == "s3":
        yield from moto_s3_remote(tmp_path)
    else:
        folder = tmp_path / "remote"
        yield Remote("shared", str(folder), lambda: {
            path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
        })


def cached_objects(repo: Repo) -> set[str]:
    """What `dvc push` must store: each cached output in dvc.lock, and each file of a folder output."""
    uncached = {
        path
        for stage in yaml.safe_load((repo.path / "dvc.yaml").read_text())["stages"].values()
        for kind in ("outs", "metrics", "plots")
        for out in stage.get(kind, [])
        if isinstance(out, dict)
        for path, options in out.items()
        if (options or {}).get("cache") is False
    }
    cache = repo.path / ".dvc" / "cache" / "files" / "md5"
    hashes = set()
    for stage in yaml.safe_load((repo.path / "dvc.lock").read_text())["stages"].values():
        for out in stage.get("outs", []):
            if out["path"] in uncached:
                continue
            hashes.add(out["md5"])
            if out["md5"].endswith(".dir"):
                listing = json.loads((cache / out["md5"][:2] / out["md5"][2:]).read_text())
                hashes.update(entry["md5"] for entry in listing)
    return {f"files/md5/{md5[:2]}/{md5[2:]}" for md5 in hashes}


def data_files(repo: Repo) -> dict[str, bytes]:
    return {
        path.relative_to(repo.path).as_posix(): path.read_bytes()
        for path in (repo.path / "data").rglob("*") if path.is_file()
    }


@pytest.mark.parametrize("remote", ["folder", "s3"], indirect=True)
def test_push_to_a_remote_and_pull_into_a_fresh_clone(repo, remote, tmp_path, monkeypatch):
    # The team workflow: one person runs the pipeline and pushes; another clones, pulls
    # and finds everything up to date without running a stage.
    monkeypatch.setattr(repo, "env", remote.environment(repo.env))
    remote.configure(repo, add=True)
    assert repo.repro() in ([], ["train", "evaluate"])
    repo.commit(f"pipeline results and a shared remote: {remote.name}")
    committed_config = repo.run("git", "show", "HEAD:.dvc/config")
    assert remote.url in committed_config
    assert not any(secret in committed_config for secret in remote.secrets.values())
    repo.run("dvc", "push")
    assert remote.list_objects() == cached_objects(repo)

    clone = Repo(tmp_path / "clone")
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone.path)], check=True, env=repo.env)
    clone.env = {**repo.env, "PYTHONPATH": str(clone.path / "src")}
    remote.configure(clone, add=False)
    clone.run("dvc", "pull")
    assert data_files(clone) == data_files(repo)
    assert "up to date" in clone.run("dvc", "status")
    assert clone.repro() == []
