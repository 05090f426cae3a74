"""Which floating-point precision trains: the architecture section's `precision`
(`repeat.precision`, ...), with `auto` decided by trying.

bfloat16 autocast (Lightning's `bf16-mixed`) is several times faster on CPUs with
bfloat16 instructions, but on many others (AVX2 without AVX-512 BF16, many ARM chips)
oneDNN has no bfloat16 LSTM kernel and the first training step raises. Which CPUs have
the kernels depends on the CPU, the torch build and the cell, so nothing short of running
a step tells: `auto` runs one training step of a copy of the model under bfloat16
autocast and takes bf16 only if it works, float32 otherwise.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import torch

from ..model import Seq2SeqModel
from ..pipeline.errors import ConfigError

AUTO = "auto"
BF16 = "bf16-mixed"
FLOAT32 = "32-true"
# Rows of training data the check steps on: enough to reach every kernel the model uses.
CHECK_ROWS = 8


@dataclass(frozen=True)
class Precision:
    name: str  # Lightning's precision name, as the Trainer takes it
    why: str  # for the train stage's printout and the model file's info


def choose(requested: str, bf16_problem: Callable[[], str | None], where: str, key: str = "repeat.precision") -> Precision:
    """The precision `requested` (the params key `key`) comes to on this machine.

    `bf16_problem` runs the check: None if a bfloat16 step works, else what went wrong.
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
        return Precision(BF16, f"auto: bfloat16 kernels work on {where}")
    return Precision(FLOAT32, f"auto: no bfloat16 on {where} ({problem}), so float32")


def bf16_problem(model: Seq2SeqModel, question: torch.Tensor, answer: torch.Tensor, device: torch.device) -> str | None:
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


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"this GPU ({torch.cuda.get_device_name(device)})"
    return "this CPU" if device.type == "cpu" else f"this {device.type} device"
