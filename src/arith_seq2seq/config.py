"""Typed configuration: one frozen dataclass per params.yaml section.

Loading is strict: an unknown key is almost always a typo, and silently ignoring it would
train with a default the user believes they changed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import ConfigError

CELLS = ("lstm", "gru", "rnn")
OPERATIONS = ("add", "sub", "mul")
# How generate draws training questions (see questions.py).
SAMPLINGS = ("balanced", "reference")
# Lightning strategy names accepted for train.strategy: "auto" is one process, or DDP when
# train.devices * train.num_nodes > 1; "ddp" asks for DDP even with a single process.
STRATEGIES = ("auto", "ddp")
# Lightning precision names accepted for train.precision: bf16-mixed runs the forward pass
# in bfloat16 under autocast (weights and optimiser stay float32), much faster on CPUs
# with bfloat16 instructions.
PRECISIONS = ("32-true", "bf16-mixed")
# Where train.accelerator trains (Lightning's names; auto: a CUDA GPU, else Apple's mps,
# else the CPU) and where evaluate.device and `predict --device` answer (torch's names).
ACCELERATORS = ("cpu", "auto", "gpu", "mps")
DEVICES = ("auto", "cpu", "cuda", "mps")
# int64 holds operands below 10**18, and the sum of two of them.
MAX_DIGITS = 18


@dataclass(frozen=True)
class DataConfig:
    digits: int = 3
    count: int = 50_000
    operation: str = "add"
    # The reference's, like every default here; params.yaml chooses balanced.
    sampling: str = "reference"
    reverse: bool = True
    seed: int = 1337
    # Held-out sets of longer questions for evaluate: one per entry, whose longer operand
    # has digits + extra digits.
    longer_extra_digits: tuple[int, ...] = (1, 2)
    longer_count: int = 2000

    def validate(self) -> None:
        _check_choice("data.operation", self.operation, OPERATIONS)
        _check_choice("data.sampling", self.sampling, SAMPLINGS)
        # int64 must hold every answer: a product has up to twice the operands' digits.
        most = MAX_DIGITS // 2 if self.operation == "mul" else MAX_DIGITS
        _check_int("data.digits", self.digits, 1)
        if self.digits > most:
            raise ConfigError(
                f"data.digits is {self.digits}, but {self.operation} answers are exact only up to "
                f"{most} digits per operand; lower data.digits"
            )
        _check_int("data.count", self.count, 1)
        _check_bool("data.reverse", self.reverse)
        _check_int("data.seed", self.seed, 0)
        extra = self.longer_extra_digits
        if not isinstance(extra, (list, tuple)):
            raise ConfigError(f"data.longer_extra_digits must be a list such as [1, 2], got {extra!r}")
        for value in extra:
            _check_int("data.longer_extra_digits entries", value, 1)
            if self.digits + value > most:
                raise ConfigError(
                    f"data.longer_extra_digits has {value}, but data.digits + {value} = "
                    f"{self.digits + value} is more than the {most} digits {self.operation} answers "
                    "are exact for; lower it, or set data.longer_extra_digits: [] for no longer sets"
                )
        if len(set(extra)) != len(extra):
            raise ConfigError(f"data.longer_extra_digits has repeated entries: {list(extra)}")
        _check_int("data.longer_count", self.longer_count, 1)


@dataclass(frozen=True)
class SplitConfig:
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    seed: int = 1337
    # Questions whose operands both have at most this many digits (and fewer than the
    # data's longest) all go to train (0: none).
    always_train_digits: int = 0

    def validate(self) -> None:
        _check_fraction("split.val_fraction", self.val_fraction)
        _check_fraction("split.test_fraction", self.test_fraction)
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError(
                f"split.val_fraction + split.test_fraction = "
                f"{self.val_fraction + self.test_fraction:g} leaves no training data; "
                "make their sum smaller than 1 (for example 0.1 and 0.1)"
            )
        _check_int("split.seed", self.seed, 0)
        _check_int("split.always_train_digits", self.always_train_digits, 0)


@dataclass(frozen=True)
class ModelConfig:
    # A name in arith_seq2seq.architectures.ARCHITECTURES; checked when the model is built,
    # so that only the train stage depends on the architecture code.
    arch: str = "repeat"
    cell: str = "lstm"
    hidden_size: int = 128
    decoder_layers: int = 1
    # 0 feeds one-hot characters like the reference; a learned embedding is the same
    # linear map without materialising the one-hot tensor.
    embedding_dim: int = 0

    def validate(self) -> None:
        _check_choice("model.cell", self.cell, CELLS)
        _check_int("model.hidden_size", self.hidden_size, 1)
        _check_int("model.decoder_layers", self.decoder_layers, 1)
        _check_int("model.embedding_dim", self.embedding_dim, 0)


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 128
    max_epochs: int = 16
    # Peak of the one-cycle schedule.
    lr: float = 0.01
    weight_decay: float = 0.0
    # Stop after this many epochs without a better validation exact match.
    patience: int = 4
    seed: int = 1337
    # Each operand digit-count stratum makes up at least this share of every epoch's
    # training rows; the rows of rarer strata are repeated (0: every row once).
    min_stratum_share: float = 0.0
    # Validation questions printed with a tick or a cross after every epoch.
    show_samples: int = 10
    # Training processes per machine and machines (DDP over gloo on the CPU). batch_size
    # is the global batch, split across all processes, so the schedule and the results
    # stay comparable whatever the process count.
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    accelerator: str = "cpu"

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes

    def validate(self) -> None:
        _check_int("train.batch_size", self.batch_size, 1)
        _check_int("train.max_epochs", self.max_epochs, 1)
        _check_float("train.lr", self.lr, positive=True)
        _check_float("train.weight_decay", self.weight_decay)
        _check_int("train.patience", self.patience, 1)
        _check_int("train.seed", self.seed, 0)
        _check_float("train.min_stratum_share", self.min_stratum_share)
        if self.min_stratum_share >= 1:
            raise ConfigError(
                f"train.min_stratum_share is {self.min_stratum_share}; it is a share of the training rows, "
                "below 1 (for example 0.01; 0 for every row once)"
            )
        _check_int("train.show_samples", self.show_samples, 0)
        _check_int("train.devices", self.devices, 1)
        _check_int("train.num_nodes", self.num_nodes, 1)
        _check_choice("train.strategy", self.strategy, STRATEGIES)
        _check_choice("train.precision", self.precision, PRECISIONS)
        _check_choice("train.accelerator", self.accelerator, ACCELERATORS)
        if self.accelerator == "mps" and self.world_size > 1:
            raise ConfigError(
                f"train.accelerator is 'mps', which trains in one process; set train.devices and "
                f"train.num_nodes to 1 (they make {self.world_size} processes)"
            )
        if self.batch_size < self.world_size:
            raise ConfigError(
                f"train.batch_size ({self.batch_size}) is split across train.devices x "
                f"train.num_nodes = {self.world_size} processes; make it at least {self.world_size}"
            )


@dataclass(frozen=True)
class EvaluateConfig:
    # Rows written to the error-case CSV, worst operand digit-count stratum first.
    max_errors: int = 1000
    batch_size: int = 1024
    # The whole question space is scored when it holds at most this many questions (all
    # ordered operand pairs: 1,000,000 at 3 digits), otherwise a stratified sample of this
    # many, drawn with `seed`.
    space_questions: int = 1_000_000
    seed: int = 1337
    # Where the questions are answered: auto is a CUDA GPU, else mps, else the CPU.
    device: str = "auto"

    def validate(self) -> None:
        _check_int("evaluate.max_errors", self.max_errors, 0)
        _check_int("evaluate.batch_size", self.batch_size, 1)
        _check_int("evaluate.space_questions", self.space_questions, 1)
        _check_int("evaluate.seed", self.seed, 0)
        _check_choice("evaluate.device", self.device, DEVICES)


@dataclass(frozen=True)
class Params:
    data: DataConfig = field(default_factory=DataConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "split": SplitConfig,
    "model": ModelConfig,
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
}


def load_params(path: str | Path) -> Params:
    """Read params.yaml into typed sections, rejecting unknown keys and bad values."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such parameters file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise ConfigError(f"{path}: not valid YAML: {problem}{where}") from None
    return params_from_dict(raw or {}, source=str(path))


def params_from_dict(raw: Any, source: str = "params") -> Params:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(
            f"{source}: unknown section {', '.join(map(repr, unknown))}; "
            f"known sections are {', '.join(SECTIONS)}"
        )
    return Params(
        **{
            name: _section(cls, name, {} if raw.get(name) is None else raw[name], source)
            for name, cls in SECTIONS.items()
        }
    )


def _section(cls: type, name: str, raw: Any, source: str):
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: section {name!r} must be a mapping of keys to values")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {', '.join(f'{name}.{k}' for k in unknown)}; "
            f"{name} takes {', '.join(sorted(known))}"
        )
    # YAML lists become tuples: sections are frozen, hashable values.
    section = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    section.validate()
    return section


def as_dict(section: Any) -> dict:
    return dataclasses.asdict(section)


def _check_int(key: str, value: Any, low: int | None = None, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be a whole number, got {value!r}")
    if low is not None and value < low:
        raise ConfigError(f"{key} must be at least {low}, got {value}")
    if high is not None and value > high:
        raise ConfigError(f"{key} must be at most {high}, got {value}")


def _check_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{key} is {value!r}; choose one of {', '.join(choices)}")


def _check_float(key: str, value: Any, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key} must be a number, got {value!r}")
    if positive and not value > 0:
        raise ConfigError(f"{key} must be greater than 0, got {value}")
    if not positive and value < 0:
        raise ConfigError(f"{key} must not be negative, got {value}")


def _check_fraction(key: str, value: Any) -> None:
    _check_float(key, value)
    if not 0 < value < 1:
        raise ConfigError(f"{key} must be between 0 and 1 (exclusive), got {value}")


def _check_bool(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {value!r}")
