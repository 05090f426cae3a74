"""Tiny, fast fixtures that go through the real code paths (CPU, tmp_path, no workers)."""

from __future__ import annotations

import os

# One thread per process, set before torch is imported: the tests run in two pytest-xdist
# workers on two cores (pyproject.toml's addopts), and threads beyond the cores spin
# against each other (a user measured one slow file at 67 s with torch's default threads,
# 20 s with one). Every subprocess the tests start (stages, `dvc repro`, `arith-seq2seq
# predict`) inherits these from os.environ; pytest_configure sets this process's torch.
for _variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"

import fcntl
import io
import json
import runpy
import shutil
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from arith_seq2seq.data import question_set, splitting
from arith_seq2seq.data.longer_sets import generate_longer
from arith_seq2seq.data.questions import generate_questions
from arith_seq2seq.model import ARCHITECTURES, model_file
from arith_seq2seq.params import SECTIONS, section_keys
from arith_seq2seq.pipeline.params import RECIPE_KEYS, TrainConfig
from arith_seq2seq.training.fit import fit

ROOT = Path(__file__).resolve().parents[1]


def pytest_addoption(parser):
    parser.addoption(
        "--trains-only",
        action="store_true",
        help="collect only the tests marked `trains` that can run on this CPU (.ci/run's second "
        "run, under "
        "ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2); the others are left out, not "
        "deselected, so "
        "that the run ends with a plain 'N passed' line, and a selection of none is an error, "
        "never exit 5",
    )


def pytest_configure(config):
    torch.set_num_threads(1)


def _skipped_here(item) -> bool:
    """Whether a skipif mark with a true condition (requires_bf16 on a CPU without the
    kernels) skips `item`."""
    return any(
        mark.args and all(isinstance(c, bool) and c for c in mark.args)
        for mark in item.iter_markers("skipif")
    )


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--trains-only"):
        return
    items[:] = [
        item for item in items if item.get_closest_marker("trains") and not _skipped_here(item)
    ]
    if not items:
        raise pytest.UsageError("--trains-only: no test marked `trains` was collected")


# The Keras reference's settings: the base of the configs tests build (params.yaml holds
# the project's defaults, for a much bigger run). Every key of every section is here,
# since loading params needs them all. The reference's network and recipe are the repeat
# section's; the other architectures' sections have the same recipe.
_RECIPE = {
    "batch_size": 128,
    "max_epochs": 16,
    "lr": 0.01,
    "grad_clip": 0.0,
    "patience": 4,
    "precision": "32-true",
}
REFERENCE = {
    "data": {
        "digits": 3,
        "count": 50_000,
        "operation": "add",
        "sampling": "reference",
        "reverse": True,
        "seed": 1337,
        "longer_digits": [4, 5],
        "longer_count": 2000,
    },
    "split": {"val_fraction": 0.1, "test_fraction": 0.1, "seed": 1337, "always_train_digits": 0},
    "model": {"arch": "repeat"},
    **{
        arch: {
            "cell": "lstm",
            "hidden_size": 128,
            "layers": 1,
            "embedding_dim": 0,
            "reverse_answer": False,
            **_RECIPE,
        }
        for arch in ("repeat", "seq2seq", "attention")
    },
    "aligned": {"hidden_size": 32, "layers": 2, "pair_dim": 16, **_RECIPE},
    "columns": {"hidden_size": 32, "layers": 2, "pair_dim": 16, **_RECIPE},
    "train": {
        "weight_decay": 0.0,
        "seed": 1337,
        "min_stratum_share": 0.0,
        "show_samples": 10,
        "devices": 1,
        "num_nodes": 1,
        "strategy": "auto",
        "accelerator": "cpu",
    },
    "evaluate": {
        "max_errors": 1000,
        "batch_size": 1024,
        "space_questions": 1_000_000,
        "seed": 1337,
        "device": "auto",
    },
}
assert list(REFERENCE) == list(SECTIONS) and all(
    sorted(REFERENCE[s]) == sorted(section_keys(s)) for s in SECTIONS
)

# Small enough to run in seconds, big enough that 2-digit addition is learnable (the
# keys not given are REFERENCE's). Every architecture's section has the tiny recipe, the
# character architectures the tiny network, so that `"model": {"arch": ...}` alone picks
# a tiny run of any of them.
_TINY_RECIPE = {"batch_size": 64, "max_epochs": 2, "lr": 0.01, "patience": 2}
TINY_PARAMS = {
    "data": {
        "digits": 2,
        "count": 3000,
        "operation": "add",
        "sampling": "balanced",
        "reverse": True,
        "seed": 7,
        "longer_digits": [3],
        "longer_count": 200,
    },
    "split": {"val_fraction": 0.1, "test_fraction": 0.1, "seed": 7},
    "model": {"arch": "repeat"},
    **{
        arch: {"cell": "lstm", "hidden_size": 64, "layers": 1, "embedding_dim": 0, **_TINY_RECIPE}
        for arch in ("repeat", "seq2seq", "attention")
    },
    "aligned": dict(_TINY_RECIPE),
    "columns": dict(_TINY_RECIPE),
    "train": {"weight_decay": 0.0, "seed": 7, "show_samples": 2},
    "evaluate": {"max_errors": 50, "batch_size": 512, "space_questions": 1_000_000, "seed": 7},
}


def _config(layers: list[dict], section: str, values: dict):
    def merged(name: str) -> dict:
        return {k: v for layer in layers for k, v in layer.get(name, {}).items()}

    values = dict(values)
    if section in ARCHITECTURES:  # config("aligned", ...) is config("model", arch="aligned", ...)
        values = {"arch": section, **values}
        section = "model"
    if section == "model":
        # The network of `arch` (model.arch's by default), from that architecture's section.
        arch = values.get("arch", merged("model")["arch"])
        net = ARCHITECTURES[arch].config
        names = {f.name for f in fields(net)}
        cls, merged_values = (
            net,
            {**{k: v for k, v in merged(arch).items() if k in names}, "arch": arch, **values},
        )
    elif section == "train":
        # The train section with the recipe of `arch` (model.arch's by default).
        arch = values.pop("arch", merged("model")["arch"])
        recipe = {k: v for k, v in merged(arch).items() if k in RECIPE_KEYS}
        cls, merged_values = TrainConfig, {**merged("train"), **recipe, "recipe_of": arch, **values}
    else:
        cls, merged_values = SECTIONS[section], {**merged(section), **values}
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in merged_values.items()})


def config(section: str, **values):
    """A params section's config: REFERENCE's values, changed by `values`. "model" (with an
    optional arch=) is that architecture's network (its NetConfig) from its section; "train"
    (with an optional arch=) the TrainConfig of the train section and that architecture's
    recipe, as loading params.yaml makes them."""
    return _config([REFERENCE], section, values)


def tiny_config(section: str, **values):
    """config() with TINY_PARAMS's values over REFERENCE's."""
    return _config([REFERENCE, TINY_PARAMS], section, values)


# The evaluate stage's outputs, by flag, as file names in an output folder.
EVALUATE_OUTPUTS = {
    "--metrics": "m.json",
    "--by-carries": "c.csv",
    "--by-digits": "d.csv",
    "--errors": "e.csv",
    "--space-map": "space.png",
}


def write_params(path: Path, overrides: dict | None = None) -> Path:
    """A params.yaml of REFERENCE's keys, TINY_PARAMS's values, changed section by section
    by `overrides` (recipe keys in the architecture's section: {"repeat": {"lr": 0.02}})."""
    params = {
        section: {**REFERENCE[section], **TINY_PARAMS.get(section, {})} for section in REFERENCE
    }
    for section, values in (overrides or {}).items():
        params.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def train_sections(values: dict, arch: str = "repeat") -> dict:
    """write_params overrides setting TrainConfig fields `values`: the recipe keys
    (RECIPE_KEYS) in the section of `arch`, the others in train (recipe_of: dropped)."""
    values = {k: v for k, v in values.items() if k != "recipe_of"}
    return {
        "train": {k: v for k, v in values.items() if k not in RECIPE_KEYS},
        arch: {k: v for k, v in values.items() if k in RECIPE_KEYS},
    }


def stage_command(name: str, *args) -> list[str]:
    """The command line of a stage's real entry point, as dvc.yaml has it."""
    return [sys.executable, str(ROOT / "stages" / f"{name}.py"), *map(str, args)]


def train_command(params: Path, split: dict, out: Path, *extra) -> list[str]:
    """The train stage on `split`'s train and val files, writing into the folder `out`."""
    return stage_command(
        "train",
        "--params",
        params,
        "--train",
        split["train"],
        "--val",
        split["val"],
        "--model",
        out / "model.pt",
        "--live-dir",
        out / "live",
        *extra,
    )


def split_args(params: Path, questions: Path, train: Path, val: Path, test: Path) -> list:
    """The split stage's arguments: `questions` in, the three parts out."""
    return [
        *("--params", params, "--questions", questions),
        *("--train", train, "--val", val, "--test", test),
    ]


def evaluate_args(params: Path, model: Path, split: dict, out: Path) -> list:
    """The evaluate stage's arguments: `split`'s train, val, test and longer sets in,
    EVALUATE_OUTPUTS in the folder `out`."""
    inputs = [
        "--params",
        params,
        "--model",
        model,
        "--train",
        split["train"],
        "--val",
        split["val"],
        "--test",
        split["test"],
        "--longer-dir",
        split["longer"],
    ]
    return inputs + [x for flag, name in EVALUATE_OUTPUTS.items() for x in (flag, out / name)]


def rewrite_npz(path: Path, **changes) -> None:
    """Rewrite a .npz with some arrays replaced (None: removed)."""
    content = dict(np.load(path))
    for name, value in changes.items():
        if value is None:
            del content[name]
        else:
            content[name] = value
    np.savez(path, **content)


def run_stage(name: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run a stage's real entry point as `dvc repro` would."""
    return subprocess.run(
        stage_command(name, *args),
        cwd=cwd,
        capture_output=True,
        text=True,
    )


def run_stage_in_process(name: str, *args: str) -> subprocess.CompletedProcess:
    """Run a stage's entry point (its `if __name__ == "__main__"` block) in this process:
    the same code as run_stage without a new interpreter importing torch, for the many
    tests of refused inputs. A traceback propagates as the exception."""
    argv = [str(ROOT / "stages" / f"{name}.py"), *map(str, args)]
    out, err = io.StringIO(), io.StringIO()
    saved, sys.argv = sys.argv, argv
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        sys.argv = saved
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def built_once(tmp_path_factory, name: str, build: Callable[[Path], None]) -> Path:
    """The folder `name` that build(folder) fills once per test run and no test changes:
    in this process without pytest-xdist; with it, in the first worker to ask, the others
    waiting for it under a lock and reusing it (the run's workers share the parent of their
    temporary folders)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    shared = tmp_path_factory.getbasetemp().parent
    folder, done = shared / name, shared / f"{name}.done"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released as the file closes
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed build left
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


def tiny_split_paths(folder: Path) -> dict[str, Path]:
    return {
        **{name: folder / f"{name}.npz" for name in ("train", "val", "test")},
        "longer": folder / "longer",
    }


def write_tiny_split(folder: Path) -> None:
    paths = tiny_split_paths(folder)
    qs = generate_questions(config("data", **TINY_PARAMS["data"]))
    for part, name in zip(
        splitting.split(qs, config("split", **TINY_PARAMS["split"])), ("train", "val", "test")
    ):
        question_set.save(part, paths[name])
    paths["longer"].mkdir()
    question_set.save_longer(
        generate_longer(config("data", **TINY_PARAMS["data"])), paths["longer"]
    )


@pytest.fixture(scope="session")
def tiny_split(tmp_path_factory) -> dict[str, Path]:
    """train/val/test .npz files of 2-digit questions, and a folder of 3-digit ones."""
    return tiny_split_paths(built_once(tmp_path_factory, "data", write_tiny_split))


def train_tiny(
    split: dict[str, Path], folder: Path, model: dict | None = None, train: dict | None = None
) -> Path:
    """Train on the tiny split with TINY_PARAMS (overridden by `model`: arch= and network
    keys, `train`: train and recipe keys, the recipe that of the model's arch); save the model."""
    net = tiny_config("model", **(model or {}))
    trained = fit(
        net,
        tiny_config("train", **{"arch": net.arch, **(train or {})}),
        split["train"],
        split["val"],
        progress=False,
    )
    path = folder / "model.pt"
    model_file.save(path, trained)
    return path


def one_digit_paths(folder: Path) -> dict[str, Path]:
    return {name: folder / f"{name}.npz" for name in ("train", "val")}


def write_one_digit(folder: Path) -> None:
    # All 55 one-digit questions, repeated so an epoch has enough steps to learn from; the
    # same rows are the validation set.
    qs = generate_questions(config("data", digits=1, count=55, seed=0))
    qs = qs.take(np.tile(np.arange(55), 40))
    for path in one_digit_paths(folder).values():
        question_set.save(qs, path)


@pytest.fixture(scope="session")
def one_digit(tmp_path_factory) -> dict[str, Path]:
    """train and val .npz files: the 55 one-digit sums, 40 times each."""
    return one_digit_paths(built_once(tmp_path_factory, "one-digit", write_one_digit))


@pytest.fixture(scope="session")
def tiny_model(tiny_split, tmp_path_factory) -> Path:
    """A repeat-architecture model trained for two epochs on the tiny split (not accurate,
    but real)."""
    return (
        built_once(tmp_path_factory, "model", lambda folder: train_tiny(tiny_split, folder))
        / "model.pt"
    )


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory):
    """The tiny pipeline in a temporary git repository, reproduced by the real `dvc repro`
    and committed, once for the test run (tests/dvc_repo.py). No test changes it: each
    copies it (`repo` below, tests/test_experiments.py)."""
    from .dvc_repo import Repo, Reproduced, outputs, reproduce

    def build(folder: Path) -> None:
        (folder / "ran.json").write_text(json.dumps(reproduce(folder / "repo").ran))

    folder = built_once(tmp_path_factory, "reproduced", build)
    repo = Repo(folder / "repo")
    return Reproduced(repo, json.loads((folder / "ran.json").read_text()), outputs(repo))


@pytest.fixture
def repo(reproduced, tmp_path):
    """A copy of the reproduced and committed repository of its own for each test, with
    its git history and DVC cache (run-cache included): the tests run alone or in any order."""
    from .dvc_repo import copy_of

    return copy_of(reproduced, tmp_path / "repo")
