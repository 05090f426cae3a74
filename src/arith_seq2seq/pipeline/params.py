"""The sections of params.yaml whose checks need nothing above this floor: split, train (with
the recipe keys of the chosen architecture's section) and evaluate. The data section is
data/config.py's, each architecture's section its module's under model/."""

from __future__ import annotations

from dataclasses import dataclass

from .config import (
    MAX_QUESTIONS,
    MAX_RATE,
    MAX_SEED,
    check_choice,
    check_float,
    check_fraction,
    check_int,
)
from .errors import ConfigError

# Lightning strategy names accepted for train.strategy: "auto" is one process, or DDP when
# train.devices * train.num_nodes > 1; "ddp" asks for DDP even with a single process.
STRATEGIES = ("auto", "ddp")
# train.precision: Lightning's precision names, and auto. bf16-mixed runs the forward pass
# in bfloat16 under autocast (weights and optimiser stay float32), much faster on CPUs
# with bfloat16 instructions and impossible on others; auto takes it where a trial step
# works (training/precision.py).
PRECISIONS = ("auto", "bf16-mixed", "32-true")
# Where train.accelerator trains (Lightning's names; auto: a CUDA GPU, else Apple's mps,
# else the CPU) and where evaluate.device and `predict --device` answer (torch's names).
ACCELERATORS = ("cpu", "auto", "gpu", "mps")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class SplitConfig:
    val_fraction: float
    test_fraction: float
    seed: int
    always_train_digits: int

    def validate(self) -> None:
        check_fraction("split.val_fraction", self.val_fraction)
        check_fraction("split.test_fraction", self.test_fraction)
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError(
                f"split.val_fraction + split.test_fraction = "
                f"{self.val_fraction + self.test_fraction:g} leaves no training data; "
                "make their sum smaller than 1 (for example 0.1 and 0.1)"
            )
        check_int("split.seed", self.seed, 0, MAX_SEED)
        check_int("split.always_train_digits", self.always_train_digits, 0)


# The training keys that belong to an architecture's recipe: they live in its section.
RECIPE_KEYS = ("batch_size", "lr", "grad_clip", "max_epochs", "patience", "precision")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: the train section, and the recipe keys (RECIPE_KEYS) from the
    section of the architecture model.arch names (`recipe_of`)."""

    batch_size: int
    max_epochs: int
    lr: float
    grad_clip: float
    weight_decay: float
    patience: int
    seed: int
    min_stratum_share: float
    show_samples: int
    devices: int
    num_nodes: int
    strategy: str
    precision: str
    accelerator: str
    recipe_of: str  # the architecture section the recipe keys came from (for messages)

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes

    def key(self, name: str) -> str:
        """The params.yaml key of field `name`."""
        return f"{self.recipe_of if name in RECIPE_KEYS else 'train'}.{name}"

    def validate(self) -> None:
        key = self.key
        check_int(key("batch_size"), self.batch_size, 1)
        check_int(key("max_epochs"), self.max_epochs, 1)
        check_float(key("lr"), self.lr, positive=True, high=MAX_RATE)
        check_float(key("grad_clip"), self.grad_clip)
        check_float("train.weight_decay", self.weight_decay, high=MAX_RATE)
        check_int(key("patience"), self.patience, 1)
        check_int("train.seed", self.seed, 0, MAX_SEED)
        check_float("train.min_stratum_share", self.min_stratum_share)
        if self.min_stratum_share >= 1:
            raise ConfigError(
                f"train.min_stratum_share is {self.min_stratum_share}; it is a share of the "
                "training rows, below 1 (for example 0.01; 0 for every row once)"
            )
        check_int("train.show_samples", self.show_samples, 0)
        check_int("train.devices", self.devices, 1)
        check_int("train.num_nodes", self.num_nodes, 1)
        check_choice("train.strategy", self.strategy, STRATEGIES)
        check_choice(key("precision"), self.precision, PRECISIONS)
        check_choice("train.accelerator", self.accelerator, ACCELERATORS)
        if self.accelerator == "mps" and self.world_size > 1:
            raise ConfigError(
                f"train.accelerator is 'mps', which trains in one process; set train.devices and "
                f"train.num_nodes to 1 (they make {self.world_size} processes)"
            )
        if self.batch_size < self.world_size:
            raise ConfigError(
                f"{key('batch_size')} ({self.batch_size}) is split across train.devices x "
                f"train.num_nodes = {self.world_size} processes; make it at least {self.world_size}"
            )


@dataclass(frozen=True)
class EvaluateConfig:
    max_errors: int
    batch_size: int
    space_questions: int
    seed: int
    device: str

    def validate(self) -> None:
        check_int("evaluate.max_errors", self.max_errors, 0)
        check_int("evaluate.batch_size", self.batch_size, 1)
        check_int("evaluate.space_questions", self.space_questions, 1, MAX_QUESTIONS)
        check_int("evaluate.seed", self.seed, 0, MAX_SEED)
        check_choice("evaluate.device", self.device, DEVICES)
