"""Any accelerator: device-agnostic code, `auto` on a machine without a GPU, clear refusals.

No GPU was available to these tests: they check on the CPU what decides where tensors go.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode

from arith_seq2seq.data.operations import operation_named
from arith_seq2seq.data.question_format import QuestionFormat, vocab_for
from arith_seq2seq.data.questions import generate_questions
from arith_seq2seq.model import ARCHITECTURES, ModelSpec, answering, build, devices
from arith_seq2seq.params import section_keys
from arith_seq2seq.pipeline.errors import ConfigError
from arith_seq2seq.training.fit import process_group_backend
from arith_seq2seq.training.module import TrainingModule

from .conftest import ROOT, config, train_command, write_params

PACKAGE = str(ROOT / "src" / "arith_seq2seq")
# torch functions that create a tensor from nothing: on the CPU unless told otherwise.
FACTORIES = {
    torch.zeros,
    torch.ones,
    torch.empty,
    torch.full,
    torch.arange,
    torch.tensor,
    torch.as_tensor,
    torch.rand,
    torch.randn,
    torch.randint,
    torch.eye,
    torch.linspace,
}


class UndirectedTensors(TorchFunctionMode):
    """Records the package's lines that create a tensor without saying on which device:
    on a GPU those tensors land on the CPU, and the next operation with the model's fails
    (or copies every step). `x.new_zeros`, `zeros_like` and `device=` are what to use."""

    def __init__(self):
        super().__init__()
        self.lines: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in FACTORIES and kwargs.get("device") is None:
            frame = sys._getframe(1)
            while frame and "/torch/" in frame.f_code.co_filename:
                frame = frame.f_back
            if frame and frame.f_code.co_filename.startswith(PACKAGE):
                self.lines.add(
                    f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno} {func.__name__}"
                )
        return func(*args, **kwargs)


VOCAB = vocab_for(operation_named("add"))


def operation_of(arch: str) -> str:
    """add, or mul for an architecture that answers products only (columns)."""
    return "add" if ARCHITECTURES[arch].learns("add") else "mul"


def spec(arch: str) -> ModelSpec:
    cell = {"cell": "lstm"} if "cell" in section_keys(arch) else {}
    return ModelSpec(
        config("model", arch=arch, hidden_size=16, **cell),
        QuestionFormat(operation_named(operation_of(arch)), 3, True),
    )


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_no_tensor_is_created_on_the_cpu_by_accident(arch):
    qs = generate_questions(
        config("data", digits=3, count=64, seed=0, operation=operation_of(arch))
    )
    question, answer = torch.from_numpy(qs.question).long(), torch.from_numpy(qs.answer).long()
    width = answer.shape[1]
    module = TrainingModule(build(spec(arch)), config("train", show_samples=0, arch=arch))
    model = module.model
    with UndirectedTensors() as mode:
        module._step((question, answer), "train").backward()
        module._step((question, answer), "val")
        model.predict(question, width)
        model.write(model.read_shared(question), question, width)
        answering.answer_questions(model, qs.question, share_prefixes=True)
        answering.answer_questions(model, qs.question)
    assert sorted(mode.lines) == []


def test_the_check_catches_an_undirected_tensor():
    with UndirectedTensors() as mode:
        exec(compile("torch.arange(3)", f"{PACKAGE}/example.py", "exec"), {"torch": torch})
    assert mode.lines == {"example.py:1 arange"}


def test_ddp_talks_over_gloo_on_cpus_and_nccl_on_gpus():
    assert process_group_backend(torch.device("cpu")) == "gloo"
    assert process_group_backend(torch.device("cuda", 0)) == "nccl"


def test_auto_is_the_cpu_here_and_a_missing_device_is_refused():
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has a GPU")
    assert devices.resolve("auto", "train.accelerator") == torch.device("cpu")
    assert devices.resolve("cpu", "evaluate.device") == torch.device("cpu")
    for name in ("gpu", "cuda"):
        with pytest.raises(
            ConfigError, match=rf"^train.accelerator is '{name}', but torch .* finds no CUDA GPU"
        ):
            devices.resolve(name, "train.accelerator")
    with pytest.raises(
        ConfigError,
        match=r"^--device is 'mps', but this machine has no Apple mps device; use auto or cpu$",
    ):
        devices.resolve("mps", "--device")


@pytest.mark.slow
def test_train_on_auto_without_a_gpu_is_the_cpu_model_byte_for_byte_and_quiet(tmp_path, tiny_split):
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has a GPU")
    env = {**os.environ, "NO_COLOR": "1", "PYTHONWARNINGS": "default"}
    runs = {}
    for accelerator in ("cpu", "auto"):
        params = write_params(
            tmp_path / f"{accelerator}.yaml",
            {"train": {"accelerator": accelerator, "show_samples": 0}},
        )
        done = subprocess.run(
            train_command(params, tiny_split, tmp_path / accelerator),
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        runs[accelerator] = done
    digest = {a: hashlib.md5((tmp_path / a / "model.pt").read_bytes()).hexdigest() for a in runs}
    assert digest["auto"] == digest["cpu"]
    # Nothing about GPUs, TPUs or devices: the same output as `cpu`.
    assert runs["auto"].stderr == runs["cpu"].stderr
    assert "warn" not in runs["auto"].stderr.lower()


def test_predict_answers_on_the_cpu_when_told_and_refuses_a_missing_device(capsys, tiny_model):
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    from arith_seq2seq.cli import main

    assert main(["predict", "--model", str(tiny_model), "--device", "cpu", "1+2"]) == 0
    assert main(["predict", "--model", str(tiny_model), "1+2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0] == out[1]
    assert main(["predict", "--model", str(tiny_model), "--device", "cuda", "1+2"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert (
        len(err) == 1
        and err[0].startswith("error: --device is 'cuda', but torch ")
        and err[0].endswith("use auto or cpu")
    )
