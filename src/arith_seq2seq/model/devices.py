"""Which torch device: train.accelerator, evaluate.device and `predict --device` resolved
against what this machine has, with a clear message when it lacks what was asked for."""

from __future__ import annotations

import torch

from ..pipeline.errors import ConfigError


def available() -> str:
    """The device `auto` means here: a CUDA GPU, else Apple's mps, else the CPU."""
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve(name: str, setting: str) -> torch.device:
    """The device for `name` (auto, cpu, gpu or cuda, mps), which `setting` (for example
    "train.accelerator") asked for; ConfigError if this machine has no such device."""
    kind = available() if name == "auto" else {"gpu": "cuda"}.get(name, name)
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"{setting} is {name!r}, but torch {torch.__version__} finds no CUDA GPU on this "
            "machine "
            "(a CPU-only build of torch finds none either); use auto or cpu"
        )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            f"{setting} is {name!r}, but this machine has no Apple mps device; use auto or cpu"
        )
    return torch.device(kind)


def of(model: torch.nn.Module) -> torch.device:
    """The device a model's weights are on."""
    return next(model.parameters()).device
