"""Which floating-point precision trains: the architecture section's `precision`
(`repeat.precision`, ...), with `auto` decided by trying.

bfloat16 autocast (Lightning's `bf16-mixed`) is several times faster on CPUs with
bfloat16 instructions, but on many others (AVX2 without AVX-512 BF16, many ARM chips)
oneDNN has no bfloat16 LSTM kernel and the first training step raises. Which CPUs have
the kernels depends on the CPU, the torch build and the cell, so nothing short of running
a step tells: `auto` runs one training step of a copy of the model under bfloat16
autocast and takes bf16 only if it works, float32 otherwise.

Working is not enough on a CPU: without bfloat16 instructions (AVX-512 BF16 or AMX) oneDNN
emulates them from float32, and the step works but is slower than float32 (2.4 times, the
default model with oneDNN capped at AVX512_CORE: bench/cpu-matrix.json). So on a CPU `auto`
takes bf16 only where the CPU has those instructions and oneDNN may use them.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..model import Network
from ..pipeline.errors import ConfigError

AUTO = "auto"
BF16 = "bf16-mixed"
FLOAT32 = "32-true"
# Rows of training data the check steps on: enough to reach every kernel the model uses.
CHECK_ROWS = 8
# oneDNN's instruction-set caps (ONEDNN_MAX_CPU_ISA) that keep bfloat16 instructions.
BF16_ISAS = frozenset(
    {
        "AVX512_CORE_BF16",
        "AVX512_CORE_FP16",
        "AVX512_CORE_AMX",
        "AVX512_CORE_AMX_FP16",
        "AVX10_1_512",
        "AVX10_1_512_AMX",
        "AVX10_1_512_AMX_FP16",
        "AVX10_2_512",
        "AVX10_2_512_AMX_2",
        "ALL",
    }
)


@dataclass(frozen=True)
class Precision:
    name: str  # Lightning's precision name, as the Trainer takes it
    why: str  # for the train stage's printout and the model file's info


def choose(
    requested: str,
    bf16_problem: Callable[[], str | None],
    where: str,
    key: str = "repeat.precision",
    bf16_slow: Callable[[], str | None] = lambda: None,
) -> Precision:
    """The precision `requested` (the params key `key`) comes to on this machine.

    `bf16_problem` runs the check: None if a bfloat16 step works, else what went wrong.
    `bf16_slow`, for `auto` only: None if bfloat16 is fast here, else why not.
    `where` names the device for the messages ("this CPU")."""
    if requested == FLOAT32:
        return Precision(FLOAT32, f"{key} is 32-true")
    problem = bf16_problem()
    if requested == BF16:
        if problem is not None:
            raise ConfigError(
                f"{key} is bf16-mixed, but bfloat16 training does not work on {where} "
                f"({problem}); use auto (bf16 where it works, float32 elsewhere) or 32-true"
            )
        return Precision(BF16, f"{key} is bf16-mixed")
    if problem is None:
        slow = bf16_slow()
        if slow is not None:
            return Precision(
                FLOAT32, f"auto: {slow}, where bfloat16 is emulated and slower, so float32"
            )
        return Precision(BF16, f"auto: bfloat16 kernels work on {where}")
    return Precision(FLOAT32, f"auto: no bfloat16 on {where} ({problem}), so float32")


def bf16_problem(
    model: Network, question: torch.Tensor, answer: torch.Tensor, device: torch.device
) -> str | None:
    """Run one forward and backward pass of a copy of `model` on these rows under bfloat16
    autocast on `device`; None if it ran, else the error's first sentence.

    A copy, under a forked random state: the check must not change the model, its
    gradients or the random numbers training draws next, so that a run that takes float32
    is byte-identical to one that asked for it."""
    forked = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=forked):
        trial = copy.deepcopy(model).to(device).train()
        try:
            with torch.autocast(device.type, dtype=torch.bfloat16):
                loss, _ = trial.loss(question.to(device), answer.to(device))
            loss.float().backward()
        except (RuntimeError, NotImplementedError, TypeError) as exc:
            # The first sentence: oneDNN's second one only asks for its verbose mode.
            return (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0]
    return None


def cpu_bf16_slow(device: torch.device) -> str | None:
    """None unless `device` is a CPU without bfloat16 instructions for oneDNN: else why."""
    if device.type != "cpu":
        return None
    has = [
        getattr(torch.cpu, name, lambda: False)()
        for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    ]
    if not any(has):
        return "this CPU has no AVX-512 BF16 or AMX instructions"
    for variable in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        cap = os.environ.get(variable)
        if cap is not None and cap.strip().upper() not in BF16_ISAS:
            return f"{variable}={cap} keeps oneDNN from this CPU's bfloat16 instructions"
    return None


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"this GPU ({torch.cuda.get_device_name(device)})"
    return "this CPU" if device.type == "cpu" else f"this {device.type} device"
