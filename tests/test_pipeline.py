"""A tiny `dvc repro` in a temporary copy of the repository: which stages rerun when."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from .dvc_repo import ALL, Repo, cached_and_ran, outputs

pytestmark = pytest.mark.slow


# `reproduced` (the tiny pipeline, reproduced once per session and committed) and `repo`
# (a copy of it of each test's own) are tests/conftest.py's fixtures, shared with
# tests/test_experiments.py.


def test_first_repro_runs_everything_and_second_has_nothing_to_do(reproduced, repo):
    assert reproduced.ran == ALL
    for out in (
        "data/questions.npz",
        "data/longer/digits_3.npz",
        "data/split/train.npz",
        "data/model.pt",
        "data/errors.csv",
        "metrics/evaluate.json",
        "metrics/train/metrics.json",
        "metrics/by_carries.csv",
    ):
        assert (repo.path / out).is_file(), out
    # The copy's DVC works on its own cache.
    assert Path(repo.run("dvc", "cache", "dir").strip()) == repo.path / ".dvc" / "cache"
    assert repo.repro() == []
    assert "up to date" in repo.run("dvc", "status")


def test_bad_params_fail_the_stage_and_keep_the_last_good_outputs(repo):
    # DVC deletes a stage's outputs before running it (none is `persist`, for the
    # run-cache's sake); the stage puts the ones dvc.lock describes back first.
    before = outputs(repo)
    assert {
        "data/model.pt",
        "metrics/train/metrics.json",
        "metrics/train/plots/metrics/val/loss.tsv",
        "metrics/evaluate.json",
        "metrics/space.png",
        "data/questions.npz",
    } <= set(before)
    for section, key, bad, message in [
        ("repeat", "cell", "lstmm", "repeat.cell is 'lstmm'"),
        ("data", "count", 10**6, "data.count is 1,000,000"),
        ("evaluate", "batch_size", 0, "evaluate.batch_size must be at least 1, got 0"),
    ]:
        good = yaml.safe_load((repo.path / "params.yaml").read_text())[section][key]
        repo.set_param(section, key, bad)
        result = subprocess.run(
            ["dvc", "repro"], cwd=repo.path, env=repo.env, capture_output=True, text=True
        )
        assert result.returncode != 0
        assert f"error: {message}" in result.stderr + result.stdout
        assert outputs(repo) == before, key
        # dvc.lock still describes them: only the params differ.
        status = json.loads(repo.run("dvc", "status", "--json"))
        assert [
            change for changes in status.values() for change in changes if "changed outs" in change
        ] == [], status
        repo.set_param(section, key, good)
    assert repo.repro() == []


def test_a_killed_repro_leaves_the_last_good_outputs(repo):
    # kill -9 of `dvc repro` and the train stage under it, after the first epoch is saved.
    before = outputs(repo)
    epochs = yaml.safe_load((repo.path / "params.yaml").read_text())["repeat"]["max_epochs"]
    repo.set_param("repeat", "max_epochs", 50)
    proc = subprocess.Popen(
        ["dvc", "repro"],
        cwd=repo.path,
        env=repo.env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = repo.path / "data" / "train-state" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "dvc repro ended before the first epoch was saved"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert outputs(repo) == before
    status = json.loads(repo.run("dvc", "status", "--json"))
    assert [
        change for changes in status.values() for change in changes if "changed outs" in change
    ] == [], status
    repo.set_param("repeat", "max_epochs", epochs)
    assert repo.repro() == []
    shutil.rmtree(repo.path / "data" / "train-state", ignore_errors=True)


def test_an_output_missing_from_the_cache_is_not_restored_and_does_not_stop_the_stage(repo):
    # For example an output saved before the run-cache was on, or a cache cleaned by `dvc gc`.
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU: train.accelerator gpu would train, not fail")
    before = outputs(repo)
    lock = yaml.safe_load((repo.path / "dvc.lock").read_text())
    (summary,) = [
        out
        for out in lock["stages"]["train"]["outs"]
        if out["path"] == "metrics/train/metrics.json"
    ]
    cached = (
        repo.path / ".dvc" / "cache" / "files" / "md5" / summary["md5"][:2] / summary["md5"][2:]
    )
    kept = cached.read_bytes()
    cached.chmod(0o644)
    cached.unlink()
    try:
        # A value check_params accepts and the train stage refuses: a GPU this machine lacks.
        repo.set_param("train", "accelerator", "gpu")
        result = subprocess.run(
            ["dvc", "repro"], cwd=repo.path, env=repo.env, capture_output=True, text=True
        )
        assert (
            "error: train.accelerator is 'gpu'" in result.stderr
            and "Traceback" not in result.stderr
        )
        after = outputs(repo)
        assert "metrics/train/metrics.json" not in after
        assert after == {k: v for k, v in before.items() if k != "metrics/train/metrics.json"}
    finally:
        cached.write_bytes(kept)
        repo.set_param("train", "accelerator", "cpu")
    # With the object back, the same params restore it without training.
    assert cached_and_ran(repo) == (["check_params", "train"], [])
    assert outputs(repo) == before


def test_returning_to_params_already_run_restores_every_stage_from_the_run_cache(repo):
    before = outputs(repo)
    seed = yaml.safe_load((repo.path / "params.yaml").read_text())["data"]["seed"]
    repo.set_param("data", "seed", seed + 100)
    assert cached_and_ran(repo) == ([], ALL)
    assert outputs(repo)["data/model.pt"] != before["data/model.pt"]
    repo.set_param("data", "seed", seed)
    # No stage runs: each one's outputs come back from the run-cache, byte for byte.
    assert cached_and_ran(repo) == (ALL, [])
    assert outputs(repo) == before
    assert "up to date" in repo.run("dvc", "status")

    # One stage alone, too.
    max_errors = yaml.safe_load((repo.path / "params.yaml").read_text())["evaluate"]["max_errors"]
    repo.set_param("evaluate", "max_errors", 3)
    assert cached_and_ran(repo) == ([], ["check_params", "evaluate"])
    repo.set_param("evaluate", "max_errors", max_errors)
    assert cached_and_ran(repo) == (["check_params", "evaluate"], [])
    assert outputs(repo) == before


def test_a_misspelled_key_is_reported_not_ignored(repo):
    repo.set_param("repeat", "hiden_size", 32)
    result = subprocess.run(
        ["dvc", "repro"], cwd=repo.path, env=repo.env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert (
        "error: params.yaml: unknown key repeat.hiden_size; repeat takes"
        in result.stderr + result.stdout
    )
    params = yaml.safe_load((repo.path / "params.yaml").read_text())
    del params["repeat"]["hiden_size"]
    (repo.path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert repo.repro() == []


def test_a_key_of_the_chosen_architecture_reruns_train_and_evaluate_and_diffs_show_it(repo):
    # A network key and a recipe key of one section: DVC tracks the section, so one rerun
    # answers for both. (A data key reruns everything and an evaluate key evaluate alone:
    # test_returning_to_params_already_run_restores_every_stage_from_the_run_cache.)
    repo.set_param("repeat", "hidden_size", 32)
    repo.set_param("repeat", "lr", 0.005)
    assert repo.repro() == ["check_params", "train", "evaluate"]
    params_diff = json.loads(repo.run("dvc", "params", "diff", "--json"))["params.yaml"]
    assert {key: (c["old"], c["new"]) for key, c in params_diff.items()} == {
        "repeat.hidden_size": (64, 32),
        "repeat.lr": (0.01, 0.005),
    }
    metrics_diff = json.loads(repo.run("dvc", "metrics", "diff", "--json"))
    # The tiny model is barely trained, so which test metrics moved varies; some must.
    assert any(key.startswith("test.") for key in metrics_diff["metrics/evaluate.json"])
    assert "space.errors" in metrics_diff["metrics/evaluate.json"]
    repo.commit("smaller model")


def test_a_key_of_an_architecture_not_chosen_reruns_nothing_and_switching_to_it_does(repo):
    # train lists the section model.arch names (dvc.yaml's ${model.arch}); before, it
    # listed all five and retrained the same repeat model.
    repo.set_param("aligned", "hidden_size", 16)
    assert repo.repro() == ["check_params"]
    assert "aligned.hidden_size" in repo.run("dvc", "params", "diff")
    repo.set_param("model", "arch", "aligned")
    assert repo.repro() == ["check_params", "train", "evaluate"]


def test_split_key_reruns_split_and_downstream(repo):
    repo.set_param("split", "seed", 8)
    assert repo.repro() == ["check_params", "split", "train", "evaluate"]


def test_editing_an_architecture_reruns_train_and_evaluate(repo):
    model = repo.path / "src" / "arith_seq2seq" / "model" / "repeat.py"
    model.write_text(model.read_text() + "\n# an edit\n")
    # check_params reads the architecture's params section from its module, so it checks
    # again; its stamp is unchanged, so generate and split (which import no model code)
    # do not rerun.
    assert repo.repro() == ["check_params", "train", "evaluate"]
    assert repo.repro() == []


def test_plots_and_metrics_render(repo):
    shown = json.loads(repo.run("dvc", "metrics", "show", "--json"))
    assert shown, "dvc metrics show found no metrics"
    table = repo.run("dvc", "metrics", "show")
    for key in (
        "space.exact_match",
        "space.errors",
        "space.unseen.exact_match",
        "space.worst.digits",
    ):
        assert key in table
    plots = repo.run("dvc", "plots", "show", "--json")
    for title in ("Exact match per epoch", "Test exact match by number of carries"):
        assert title in plots
    # The map of the question space is an image plot: shown, and diffed side by side.
    images = json.loads(plots)["data"]["metrics/space.png"]
    assert [image["type"] for image in images] == ["image"]
    diffed = json.loads(repo.run("dvc", "plots", "diff", "HEAD", "--json"))["data"]
    assert len(diffed["metrics/space.png"]) == 2
    assert {image["revisions"][0] for image in diffed["metrics/space.png"]} == {"HEAD", "workspace"}
    # The curves are in the DVC cache, not git: HEAD's are read from there.
    (curves,) = diffed["Exact match per epoch"]
    assert sorted(curves["revisions"]) == ["HEAD", "workspace"]
    assert {row["rev"] for row in curves["content"]["data"]["values"]} == {"HEAD", "workspace"}


def test_attention_arch_runs_end_to_end(repo):
    repo.set_param("model", "arch", "attention")
    assert repo.repro() == ["check_params", "train", "evaluate"]
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
    secrets: dict[str, str] = field(
        default_factory=dict
    )  # each clone's: `dvc remote modify --local`
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
        pytest.skip(
            f"S3 remote: moto's server cannot be imported ({error}); "
            "pip install -e '.[dev]' installs it"
        )
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
            "s3",
            endpoint_url=endpoint,
            region_name=S3_REGION,
            aws_access_key_id=keys["access_key_id"],
            aws_secret_access_key=keys["secret_access_key"],
        )
        s3.create_bucket(Bucket=S3_BUCKET)

        def list_objects() -> set[str]:
            pages = s3.get_paginator("list_objects_v2").paginate(
                Bucket=S3_BUCKET, Prefix=f"{S3_PREFIX}/"
            )
            return {
                item["Key"].removeprefix(f"{S3_PREFIX}/")
                for page in pages
                for item in page.get("Contents", [])
            }

        yield Remote(
            "s3",
            f"s3://{S3_BUCKET}/{S3_PREFIX}",
            list_objects,
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
        yield Remote(
            "shared",
            str(folder),
            lambda: {
                path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()
            },
        )


def cached_objects(repo: Repo) -> set[str]:
    """What `dvc push` must store: each cached output in dvc.lock, and each file of a
    folder output."""
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
        for path in (repo.path / "data").rglob("*")
        if path.is_file() and "train-state" not in path.parts
    }


@pytest.mark.parametrize("remote", ["folder", "s3"], indirect=True)
def test_push_to_a_remote_and_pull_into_a_fresh_clone(repo, remote, tmp_path, monkeypatch):
    # The team workflow: one person runs the pipeline and pushes; another clones, pulls
    # and finds everything up to date without running a stage.
    monkeypatch.setattr(repo, "env", remote.environment(repo.env))
    remote.configure(repo, add=True)
    assert repo.repro() == []
    repo.commit(f"pipeline results and a shared remote: {remote.name}")
    committed_config = repo.run("git", "show", "HEAD:.dvc/config")
    assert remote.url in committed_config
    assert not any(secret in committed_config for secret in remote.secrets.values())
    repo.run("dvc", "push")
    assert remote.list_objects() == cached_objects(repo)

    clone = Repo(tmp_path / "clone")
    subprocess.run(
        ["git", "clone", "-q", str(repo.path), str(clone.path)], check=True, env=repo.env
    )
    clone.env = {**repo.env, "PYTHONPATH": str(clone.path / "src")}
    remote.configure(clone, add=False)
    clone.run("dvc", "pull")
    assert data_files(clone) == data_files(repo)
    assert "up to date" in clone.run("dvc", "status")
    assert clone.repro() == []


def test_the_model_is_a_registry_artifact_that_a_fresh_clone_fetches_from_the_remote(
    repo, tmp_path
):
    from dvc.repo import Repo as DvcRepo

    with DvcRepo(str(repo.path)) as dvc:
        (artifacts,) = dvc.artifacts.read().values()
    model = artifacts["arith-model"]
    assert (model.path, model.type) == ("data/model.pt", "model") and model.desc
    # Plain words: `${data.operation}` there made DVC report a missing params section as
    # an error in these labels (tests/test_pipeline_safety.py).
    assert model.labels == ["arithmetic", "seq2seq", "rnn"]

    store = tmp_path / "store"
    repo.run("dvc", "remote", "add", "-f", "-d", "registry", str(store))
    assert repo.repro() == []
    repo.commit("the model registry's remote")
    # A version in the registry is a git tag in GTO's format, as `gto register` writes it.
    repo.run(
        "git",
        "tag",
        "-a",
        "arith-model@v1.0.0",
        "-m",
        "Registering artifact arith-model version v1.0.0",
    )
    repo.run("dvc", "push")
    # A clone has no DVC cache: the model can only come from the remote.
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone)], check=True, env=repo.env)
    assert not (clone / ".dvc" / "cache").exists()
    user = tmp_path / "user"
    user.mkdir()
    result = subprocess.run(
        ["dvc", "artifacts", "get", str(clone), "arith-model", "--rev", "v1.0.0", "-o", "model.pt"],
        cwd=user,
        env=repo.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (user / "model.pt").read_bytes() == (repo.path / "data" / "model.pt").read_bytes()

    def answers(model: Path) -> str:
        predict = [
            sys.executable,
            "-m",
            "arith_seq2seq.cli",
            "predict",
            "--model",
            str(model),
            "1+2",
            "40+2",
            "99+99",
        ]
        done = subprocess.run(predict, cwd=user, env=repo.env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert answers(user / "model.pt") == answers(repo.path / "data" / "model.pt")
    assert len(answers(user / "model.pt").splitlines()) == 3
