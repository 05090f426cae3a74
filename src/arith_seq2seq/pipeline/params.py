"""Typed params: one frozen dataclass per params.yaml section.

params.yaml is the one description of every parameter and the one place of its default
value: these classes have no defaults, and loading needs every key. Loading is strict: an
unknown key is almost always a typo, and silently ignoring it would train with a value the
user believes they changed.
"""

from __future__ import annotations

import difflib
import math
import reprlib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ..data.operations import OPERATIONS, operation_named
from ..data.question_format import LONGEST_DIGITS
from .errors import ConfigError

CELLS = ("lstm", "gru", "rnn")
# How generate draws training questions (see questions.py).
SAMPLINGS = ("balanced", "reference")
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
# Upper bounds on the model's size: past them the weights alone need gigabytes, and the
# allocation would fail with a MemoryError deep in torch instead of naming the key.
MAX_WIDTH = 4096  # hidden_size, embedding_dim, pair_dim
MAX_LAYERS = 16  # layers
# Upper bound on the question counts a stage holds in memory at once.
MAX_QUESTIONS = 100_000_000
# Upper bound on a network's weights (about 400 MB in float32, 1.6 GB with Adam's state):
# hidden_size and layers each within their bounds can still multiply past any memory.
MAX_WEIGHTS = 100_000_000
# Seeds: Lightning's seed_everything and numpy take at most 32 bits.
MAX_SEED = 2**32 - 1
# Upper bound on a learning rate or weight decay: far past any that trains, short of the
# float overflow that 1e300 meets in the optimiser.
MAX_RATE = 100.0
# What one params.yaml value may expand to (YAML aliases repeat a value by reference: a
# 1.5 KB file of nested aliases stands for billions of items), and how deeply it may nest.
MAX_VALUE_ITEMS = 10_000
MAX_DEPTH = 20


def shown(value: Any) -> str:
    """`value` as an error message quotes it: repr, cut short by reprlib (a value may be
    huge, or an alias of itself)."""
    short = reprlib.Repr()  # (keyword arguments from Python 3.12 on)
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring, short.maxlong, short.maxother = (
        2,
        4,
        4,
        40,
        40,
        40,
    )
    return short.repr(value)


@dataclass(frozen=True)
class DataConfig:
    digits: int
    count: int
    operation: str
    sampling: str
    reverse: bool
    seed: int
    longer_digits: tuple[int, ...]
    longer_count: int

    def validate(self) -> None:
        _check_choice("data.operation", self.operation, tuple(OPERATIONS))
        _check_choice("data.sampling", self.sampling, SAMPLINGS)
        most = operation_named(self.operation).max_digits
        _check_int("data.digits", self.digits, 1)
        if self.digits > most:
            raise ConfigError(
                f"data.digits is {self.digits}, but {self.operation} answers are exact only up to "
                f"{most} digits per operand; lower data.digits"
            )
        _check_int("data.count", self.count, 1, MAX_QUESTIONS)
        _check_bool("data.reverse", self.reverse)
        _check_int("data.seed", self.seed, 0, MAX_SEED)
        lengths = self.longer_digits
        if not isinstance(lengths, (list, tuple)):
            raise ConfigError(
                f"data.longer_digits must be a list such as [4, 5, 10], got {shown(lengths)}"
            )
        for value in lengths:
            _check_int("data.longer_digits entries", value, 1)
            if not self.digits < value <= LONGEST_DIGITS:
                raise ConfigError(
                    f"data.longer_digits has {value}; held-out lengths must be longer than data.digits "
                    f"({self.digits}) and at most {LONGEST_DIGITS}; change it, or set data.longer_digits: [] "
                    "for no longer sets"
                )
        if len(set(lengths)) != len(lengths):
            raise ConfigError(f"data.longer_digits has repeated entries: {list(lengths)}")
        _check_int("data.longer_count", self.longer_count, 1, MAX_QUESTIONS)


@dataclass(frozen=True)
class SplitConfig:
    val_fraction: float
    test_fraction: float
    seed: int
    always_train_digits: int

    def validate(self) -> None:
        _check_fraction("split.val_fraction", self.val_fraction)
        _check_fraction("split.test_fraction", self.test_fraction)
        if self.val_fraction + self.test_fraction >= 1:
            raise ConfigError(
                f"split.val_fraction + split.test_fraction = "
                f"{self.val_fraction + self.test_fraction:g} leaves no training data; "
                "make their sum smaller than 1 (for example 0.1 and 0.1)"
            )
        _check_int("split.seed", self.seed, 0, MAX_SEED)
        _check_int("split.always_train_digits", self.always_train_digits, 0)


# The network of each architecture, by the name model.arch takes: each has a params
# section of that name holding the network's keys and its training recipe (RECIPE_KEYS),
# so that one flag (`dvc exp run -S model.arch=aligned`) selects a model that works, and a
# key an architecture does not use is refused as unknown.


@dataclass(frozen=True)
class CharacterNet:
    """repeat, seq2seq, attention: recurrent networks over the question's characters."""

    # The data.operation values it learns; None: every one, an operation added at run time
    # (a test's) included.
    operations: ClassVar[tuple[str, ...] | None] = None
    arch: str
    cell: str
    hidden_size: int
    # Stacked recurrent layers: the decoder's for repeat (its encoder has one), the
    # encoder's and the decoder's for seq2seq and attention.
    layers: int
    embedding_dim: int  # 0: one-hot characters as in the reference
    # The decoder writes the answer units first, the order in which carries travel, so a
    # carry is known before the digit it changes (the reference writes the leading digit
    # first, which needs the whole carry chain at the first step). Answers are turned
    # back before anyone sees them.
    reverse_answer: bool

    def validate(self) -> None:
        _check_choice(f"{self.arch}.cell", self.cell, CELLS)
        _check_int(f"{self.arch}.hidden_size", self.hidden_size, 1, MAX_WIDTH)
        _check_int(f"{self.arch}.layers", self.layers, 1, MAX_LAYERS)
        _check_int(f"{self.arch}.embedding_dim", self.embedding_dim, 0, MAX_WIDTH)
        _check_bool(f"{self.arch}.reverse_answer", self.reverse_answer)
        # Four gates, each a hidden_size x (hidden_size + input) matrix per layer, encoder
        # and decoder (an upper estimate for the gru and rnn cells).
        h = self.hidden_size
        _check_weights(self.arch, 4 * h * (h + max(self.embedding_dim, h)) * (self.layers + 1) * 2)


@dataclass(frozen=True)
class AlignedNet:
    """aligned: one network for every column of a sum or difference (a digit pair and the
    carry in; the column's digit and the carry out)."""

    # A product's digit depends on every column, not on a carry: `columns` answers those.
    operations: ClassVar[tuple[str, ...]] = ("add", "sub")
    arch: str
    hidden_size: int
    layers: int  # hidden layers of the network that takes a step
    pair_dim: int  # the learned embedding of a digit pair (a_i, b_i), and of a carry

    def validate(self) -> None:
        _check_int(f"{self.arch}.hidden_size", self.hidden_size, 1, MAX_WIDTH)
        _check_int(f"{self.arch}.layers", self.layers, 1, MAX_LAYERS)
        _check_int(f"{self.arch}.pair_dim", self.pair_dim, 1, MAX_WIDTH)
        _check_weights(self.arch, self.weights())

    def weights(self) -> int:
        """The network's weight count, exactly (model/aligned.py): the embeddings of the
        100 digit pairs and 2 carries, `layers` hidden layers and two heads (10 and 2)."""
        h, d = self.hidden_size, self.pair_dim
        return 102 * d + _mlp_weights(2 * d, h, self.layers) + (h + 1) * (10 + 2)


@dataclass(frozen=True)
class ColumnsNet:
    """columns: long multiplication, one network for every step of it (a digit pair, the
    running total's digit and the carry in; the new digit and the carry out)."""

    operations: ClassVar[tuple[str, ...]] = ("mul",)
    arch: str
    hidden_size: int
    layers: int  # hidden layers of the network that takes a step
    pair_dim: int  # the learned embedding of a digit pair (a_i, b_j), and of a digit and a carry

    def validate(self) -> None:
        _check_int(f"{self.arch}.hidden_size", self.hidden_size, 1, MAX_WIDTH)
        _check_int(f"{self.arch}.layers", self.layers, 1, MAX_LAYERS)
        _check_int(f"{self.arch}.pair_dim", self.pair_dim, 1, MAX_WIDTH)
        _check_weights(self.arch, self.weights())

    def weights(self) -> int:
        """The network's weight count, exactly (model/columns.py): the embeddings of the
        100 digit pairs, 9 row carries, 2 x 10 digits and 2 adding carries; then the times
        and the plus networks, each `layers` hidden layers and two heads (10 and 9
        classes; 10 and 2)."""
        h, d = self.hidden_size, self.pair_dim
        times = _mlp_weights(2 * d, h, self.layers) + (h + 1) * (10 + 9)
        plus = _mlp_weights(3 * d, h, self.layers) + (h + 1) * (10 + 2)
        return (100 + 9 + 20 + 2) * d + times + plus


def _mlp_weights(inputs: int, hidden: int, layers: int) -> int:
    """Weights of model/digit_columns.py's `mlp`: `layers` linear layers of `hidden` units."""
    return (inputs * hidden + hidden) + (layers - 1) * (hidden * hidden + hidden)


NETS: dict[str, type] = {
    "repeat": CharacterNet,
    "seq2seq": CharacterNet,
    "attention": CharacterNet,
    "aligned": AlignedNet,
    "columns": ColumnsNet,
}
ModelConfig = CharacterNet | AlignedNet | ColumnsNet
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
    recipe_of: str = "repeat"  # the section the recipe keys came from (for messages)

    @property
    def world_size(self) -> int:
        return self.devices * self.num_nodes

    def key(self, name: str) -> str:
        """The params.yaml key of field `name`."""
        return f"{self.recipe_of if name in RECIPE_KEYS else 'train'}.{name}"

    def validate(self) -> None:
        key = self.key
        _check_int(key("batch_size"), self.batch_size, 1)
        _check_int(key("max_epochs"), self.max_epochs, 1)
        _check_float(key("lr"), self.lr, positive=True, high=MAX_RATE)
        _check_float(key("grad_clip"), self.grad_clip)
        _check_float("train.weight_decay", self.weight_decay, high=MAX_RATE)
        _check_int(key("patience"), self.patience, 1)
        _check_int("train.seed", self.seed, 0, MAX_SEED)
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
        _check_choice(key("precision"), self.precision, PRECISIONS)
        _check_choice("train.accelerator", self.accelerator, ACCELERATORS)
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
        _check_int("evaluate.max_errors", self.max_errors, 0)
        _check_int("evaluate.batch_size", self.batch_size, 1)
        _check_int("evaluate.space_questions", self.space_questions, 1, MAX_QUESTIONS)
        _check_int("evaluate.seed", self.seed, 0, MAX_SEED)
        _check_choice("evaluate.device", self.device, DEVICES)


@dataclass(frozen=True)
class ModelChoice:
    arch: str

    def validate(self) -> None:
        _check_choice("model.arch", self.arch, tuple(NETS))


@dataclass(frozen=True)
class Params:
    data: DataConfig
    split: SplitConfig
    model: ModelConfig  # the network of the architecture model.arch names
    train: TrainConfig  # the train section with that architecture's recipe
    evaluate: EvaluateConfig


# Every section of params.yaml, in its order: the architectures' sections follow model.
SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "split": SplitConfig,
    "model": ModelChoice,
    **NETS,
    "train": TrainConfig,
    "evaluate": EvaluateConfig,
}


def load_params(path: str | Path) -> Params:
    """Read params.yaml into typed sections, rejecting unknown keys and bad values."""
    return params_from_dict(read_yaml(Path(path)), source=str(path))


def read_yaml(path: Path) -> Any:
    """params.yaml as DVC reads it: YAML 1.2 by ruamel.yaml's safe loader (DVC's
    dvc/utils/serialize/_yaml.py), so that every value a stage uses is the one `dvc params
    diff` and `dvc exp show` record. (PyYAML reads YAML 1.1: `020` is 16 there and 20 to
    DVC, `1:30` is 90 and `yes` true there, strings to DVC.) A value whose aliases expand
    past MAX_VALUE_ITEMS items, or nesting past MAX_DEPTH, is refused."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such parameters file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{path}: cannot be read ({type(exc).__name__}: {shown(str(exc))})"
        ) from None
    try:
        raw = YAML(typ="safe").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise ConfigError(f"{path}: not valid YAML: {problem}{where}") from None
    except RecursionError:
        raise ConfigError(
            f"{path}: nested too deeply to be parameters (at most {MAX_DEPTH} levels)"
        ) from None
    except ValueError as exc:  # a number of more digits than Python converts (4,300)
        raise ConfigError(f"{path}: a value cannot be read ({shown(str(exc))})") from None
    for where, value in raw.items() if isinstance(raw, Mapping) else [("the file", raw)]:
        _check_size(f"{path}: {where}", value)
    return raw or {}


def _check_size(where: str, value: Any) -> None:
    """Refuse a value of more than MAX_VALUE_ITEMS items or MAX_DEPTH levels once its
    aliases are expanded, counted without expanding them (each shared node once)."""
    sizes: dict[int, int] = {}

    def size(node: Any, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise ConfigError(f"{where} is nested more than {MAX_DEPTH} levels deep")
        if not isinstance(node, (list, dict)):
            return 1
        if id(node) not in sizes:
            items = list(node.keys()) + list(node.values()) if isinstance(node, dict) else node
            sizes[id(node)] = 1 + sum(size(item, depth + 1) for item in items)
        if sizes[id(node)] > MAX_VALUE_ITEMS:
            raise ConfigError(
                f"{where} holds more than {MAX_VALUE_ITEMS:,} values (YAML aliases repeat it); parameters are "
                "single values or short lists"
            )
        return sizes[id(node)]

    size(value, 0)


def params_from_dict(raw: Any, source: str = "params") -> Params:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(SECTIONS), key=str)
    if unknown:
        guesses = [
            match
            for name in unknown
            for match in difflib.get_close_matches(str(name), SECTIONS, n=1)
        ]
        hint = f" (did you mean {', '.join(map(repr, guesses))}?)" if guesses else ""
        raise ConfigError(
            f"{source}: unknown section {', '.join(map(repr, unknown))}{hint}; "
            f"known sections are {', '.join(SECTIONS)}"
        )
    missing = [name for name in SECTIONS if raw.get(name) is None]
    if missing:
        raise ConfigError(
            f"{source}: missing or empty section {', '.join(map(repr, missing))}; every section must be set "
            "(the project's params.yaml has each one, with its meaning)"
        )
    values = {name: _keys(name, raw[name], source) for name in SECTIONS}
    for name in ("data", "split", "evaluate"):
        values[name] = _build(SECTIONS[name], values[name])
    arch = _build(ModelChoice, values["model"]).arch
    # Every architecture's section is checked, the chosen one is used.
    nets, trains = {}, {}
    for name, cls in NETS.items():
        recipe = {k: values[name].pop(k) for k in RECIPE_KEYS}
        nets[name] = _build(cls, {"arch": name, **values[name]})
        trains[name] = _build(TrainConfig, {**values["train"], **recipe, "recipe_of": name})
    check_learns(nets[arch], values["data"].operation)
    return Params(
        data=values["data"],
        split=values["split"],
        model=nets[arch],
        train=trains[arch],
        evaluate=values["evaluate"],
    )


def check_learns(net: ModelConfig, operation: str) -> None:
    """Refuse an architecture that cannot learn data.operation `operation`."""
    if net.operations is not None and operation not in net.operations:
        able = [
            n for n, cls in NETS.items() if cls.operations is None or operation in cls.operations
        ]
        raise ConfigError(
            f"model.arch is {net.arch}, which learns {' and '.join(net.operations)}, not {operation} "
            f"(data.operation); for {operation} choose model.arch {' | '.join(able)}"
        )


def section_keys(name: str) -> list[str]:
    """The keys params.yaml's section `name` takes."""
    if name in NETS:
        return [f.name for f in fields(NETS[name]) if f.name != "arch"] + list(RECIPE_KEYS)
    if name == "train":
        return [
            f.name
            for f in fields(TrainConfig)
            if f.name not in RECIPE_KEYS and f.name != "recipe_of"
        ]
    return [f.name for f in fields(SECTIONS[name])]


def _keys(name: str, raw: Any, source: str) -> dict:
    """Section `name`'s keys and values, exactly the ones it takes."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: section {shown(name)} must be a mapping of keys to values")
    known = section_keys(name)
    unknown = sorted(set(raw) - set(known), key=str)
    if unknown:
        # A key the chosen architecture does not use is refused like a typo: a setting
        # that silently does nothing is a setting the user believes they changed.
        homes = [
            other
            for key in unknown
            for other in NETS
            if other != name and key in section_keys(other)
        ]
        hint = ""
        if name == "model" or (name == "train" and set(unknown) & set(RECIPE_KEYS)):
            hint = " (an architecture's network and training recipe are in the section model.arch names, e.g. repeat.hidden_size)"
        elif homes:
            users = list(dict.fromkeys(homes))
            hint = f" ({name} does not use it; {', '.join(users)} {'uses' if len(users) == 1 else 'use'} it)"
        raise ConfigError(
            f"{source}: unknown key {', '.join(f'{name}.{k}' for k in unknown)}{hint}; "
            f"{name} takes {', '.join(sorted(known))}"
        )
    missing = [key for key in known if key not in raw]
    if missing:
        raise ConfigError(
            f"{source}: missing key {', '.join(f'{name}.{k}' for k in missing)}; every key must be set "
            "(the project's params.yaml has each one, with its meaning)"
        )
    # YAML lists become tuples: sections are frozen, hashable values.
    return {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}


def _build(cls: type, values: dict):
    section = cls(**values)
    section.validate()
    return section


def _check_int(key: str, value: Any, low: int | None = None, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be a whole number, got {shown(value)}")
    if low is not None and value < low:
        raise ConfigError(f"{key} must be at least {low}, got {shown(value)}")
    if high is not None and value > high:
        raise ConfigError(f"{key} must be at most {high}, got {shown(value)}")


def _check_weights(arch: str, weights: int) -> None:
    if weights > MAX_WEIGHTS:
        raise ConfigError(
            f"{arch}'s network would have about {weights:,} weights, more than {MAX_WEIGHTS:,}; "
            f"make {arch}.hidden_size or {arch}.layers smaller"
        )


def _check_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{key} is {shown(value)}; choose one of {', '.join(choices)}")


def _check_float(key: str, value: Any, positive: bool = False, high: float | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key} must be a number, got {shown(value)}")
    # YAML's .inf and .nan are floats: an infinite learning rate trains a model of NaNs.
    if not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value}")
    if positive and not value > 0:
        raise ConfigError(f"{key} must be greater than 0, got {value}")
    if not positive and value < 0:
        raise ConfigError(f"{key} must not be negative, got {value}")
    if high is not None and value > high:
        raise ConfigError(f"{key} must be at most {high:g}, got {shown(value)}")


def _check_fraction(key: str, value: Any) -> None:
    _check_float(key, value)
    if not 0 < value < 1:
        raise ConfigError(f"{key} must be between 0 and 1 (exclusive), got {value}")


def _check_bool(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {shown(value)}")
