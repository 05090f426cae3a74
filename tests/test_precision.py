"""The recipe's precision (repeat.precision, ...): `auto` trains in bfloat16 only where a
trial step shows the kernels work, float32 elsewhere (many CPUs have no bfloat16 LSTM
kernel), and says which."""

from __future__ import annotations

import os
import subprocess

import pytest
import torch
import yaml

from arith_seq2seq.data.operations import operation_named
from arith_seq2seq.data.question_format import QuestionFormat
from arith_seq2seq.model import ModelSpec, build, model_file
from arith_seq2seq.model.repeat import RepeatNetwork
from arith_seq2seq.pipeline.errors import ConfigError
from arith_seq2seq.training import precision

from .conftest import ROOT, config, train_command, write_params

# oneDNN's own switch: with AVX2 as the most it may use, it behaves as on a CPU without
# AVX-512 (most laptops, many servers), which has no bfloat16 LSTM kernel.
NO_BF16_CPU = {"ONEDNN_MAX_CPU_ISA": "AVX2"}


def never_called():
    raise AssertionError("32-true needs no check")


def test_auto_takes_bf16_where_the_check_passes():
    chosen = precision.choose("auto", lambda: None, "this CPU")
    assert chosen == precision.Precision("bf16-mixed", "auto: bfloat16 kernels work on this CPU")


def test_auto_falls_back_to_float32_and_says_why():
    chosen = precision.choose("auto", lambda: "could not create a primitive descriptor", "this CPU")
    assert chosen.name == "32-true"
    assert (
        chosen.why
        == "auto: no bfloat16 on this CPU (could not create a primitive descriptor), so float32"
    )


def test_float32_is_taken_without_a_check():
    assert precision.choose("32-true", never_called, "this CPU").name == "32-true"


def test_bf16_asked_for_where_it_cannot_work_is_one_clear_error():
    # The message names the key of the architecture's section that asked for it.
    with pytest.raises(
        ConfigError,
        match=r"^attention\.precision is bf16-mixed, but bfloat16 training does not work on "
        r"this CPU \(no kernel\); use auto .* or 32-true$",
    ):
        precision.choose("bf16-mixed", lambda: "no kernel", "this CPU", "attention.precision")
    assert precision.choose("bf16-mixed", lambda: None, "this CPU").name == "bf16-mixed"


def tiny_model(arch: str = "repeat", cell: str = "lstm"):
    fmt = QuestionFormat(operation_named("add"), 2, True)
    model = build(ModelSpec(config("model", arch=arch, cell=cell, hidden_size=16), fmt))
    question = torch.randint(0, len(fmt.vocab), (4, fmt.question_width))
    answer = torch.randint(0, len(fmt.vocab), (4, fmt.answer_width))
    return model, question, answer


def test_the_check_leaves_the_model_and_the_random_state_as_they_were():
    # Otherwise a run that falls back to float32 would differ from one that asked for it.
    class Noisy(RepeatNetwork):
        """Draws random numbers in training, as dropout would."""

        def loss(self, question, answer):
            loss, pred = super().loss(question, answer)
            return loss * (1 + 0 * torch.rand(())), pred

    _, question, answer = tiny_model()
    model = Noisy(
        ModelSpec(
            config("model", arch="repeat", hidden_size=16),
            QuestionFormat(operation_named("add"), 2, True),
        )
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.random.get_rng_state()
    precision.bf16_problem(model, question, answer, torch.device("cpu"))
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_the_check_reports_an_error_as_its_first_line(monkeypatch):
    model, question, answer = tiny_model()

    def broken(*args):
        raise RuntimeError(
            "could not create a primitive descriptor. Run with ONEDNN_VERBOSE=all\nmore"
        )

    monkeypatch.setattr(type(model), "loss", broken)
    assert (
        precision.bf16_problem(model, question, answer, torch.device("cpu"))
        == "could not create a primitive descriptor"
    )


def bf16_works_here() -> bool:
    """Whether this machine trains an LSTM under bfloat16 autocast (many CPUs cannot)."""
    return precision.bf16_problem(*tiny_model(), torch.device("cpu")) is None


# For the tests that ask for bf16-mixed explicitly: on a machine without the kernels they
# skip, saying so, and the float32 fallback is what the tests above run.
requires_bf16 = pytest.mark.skipif(
    not bf16_works_here(), reason="no bfloat16 LSTM kernels on this machine"
)


CHECK = """
import torch
from arith_seq2seq.training import precision
from tests.test_precision import tiny_model
model, question, answer = tiny_model()
print(precision.bf16_problem(model, question, answer, torch.device("cpu")))
"""


def bf16_problem_here(env: dict) -> str:
    proc = subprocess.run(
        ["python", "-c", CHECK],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def test_the_check_finds_no_bf16_lstm_on_a_cpu_without_avx512():
    assert (
        bf16_problem_here(NO_BF16_CPU)
        == "could not create a primitive descriptor for the LSTM forward propagation primitive"
    )


def train_stage(split: dict, folder, env: dict) -> tuple[subprocess.CompletedProcess, dict]:
    """The real train stage with params.yaml's default precision (not the tests' 32-true)."""
    default = yaml.safe_load((ROOT / "params.yaml").read_text())["repeat"]["precision"]
    params = write_params(
        folder / "params.yaml", {"repeat": {"precision": default, "max_epochs": 1}}
    )
    proc = subprocess.run(
        train_command(params, split, folder),
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, model_file.load(folder / "model.pt").info


@pytest.mark.slow
def test_the_default_trains_on_a_cpu_without_bf16_kernels(tiny_split, tmp_path):
    proc, info = train_stage(tiny_split, tmp_path, NO_BF16_CPU)
    assert (
        "train: precision 32-true (auto: no bfloat16 on this CPU (could not create a "
        "primitive descriptor for the "
        "LSTM forward propagation primitive), so float32)"
    ) in proc.stdout
    assert ", 32-true; kept that epoch" in proc.stdout
    assert info["precision"] == "32-true"


@pytest.mark.slow
@requires_bf16
def test_the_default_trains_in_bf16_on_a_cpu_with_bf16_kernels(tiny_split, tmp_path):
    proc, info = train_stage(tiny_split, tmp_path, {})
    assert "train: precision bf16-mixed (auto: bfloat16 kernels work on this CPU)" in proc.stdout
    assert info["precision"] == "bf16-mixed"


def test_auto_takes_float32_where_bf16_works_but_is_emulated():
    chosen = precision.choose(
        "auto",
        lambda: None,
        "this CPU",
        bf16_slow=lambda: "this CPU has no AVX-512 BF16 or AMX instructions",
    )
    assert chosen == precision.Precision(
        "32-true",
        "auto: this CPU has no AVX-512 BF16 or AMX instructions, where bfloat16 is emulated "
        "and slower, so float32",
    )
    # Asked for by name it is taken: it works, only slower.
    assert (
        precision.choose("bf16-mixed", lambda: None, "this CPU", bf16_slow=never_called).name
        == "bf16-mixed"
    )


@pytest.mark.parametrize(
    "cap, slow",
    [
        ("AVX512_CORE", True),
        ("avx2", True),
        ("AVX512_CORE_BF16", False),
        ("AVX512_CORE_AMX", False),
        (None, False),
    ],
)
def test_a_cpu_is_bf16_fast_only_with_bf16_instructions_that_onednn_may_use(monkeypatch, cap, slow):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.delenv("DNNL_MAX_CPU_ISA", raising=False)
    if cap is None:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    else:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    found = precision.cpu_bf16_slow(torch.device("cpu"))
    assert (found is not None) == slow, found
    if slow:
        assert (
            found == f"ONEDNN_MAX_CPU_ISA={cap} keeps oneDNN from this CPU's bfloat16 instructions"
        )
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert (
        precision.cpu_bf16_slow(torch.device("cpu"))
        == "this CPU has no AVX-512 BF16 or AMX instructions"
    )
    assert (
        precision.cpu_bf16_slow(torch.device("meta")) is None
    )  # not a CPU: the trial step decides


@pytest.mark.slow
@requires_bf16
def test_the_default_trains_in_float32_on_an_avx512_cpu_without_bf16(tiny_split, tmp_path):
    proc, info = train_stage(tiny_split, tmp_path, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"})
    assert (
        "train: precision 32-true (auto: ONEDNN_MAX_CPU_ISA=AVX512_CORE keeps oneDNN from "
        "this CPU's bfloat16 "
        "instructions, where bfloat16 is emulated and slower, so float32)"
    ) in proc.stdout
    assert info["precision"] == "32-true"
