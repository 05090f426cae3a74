"""params.yaml as a whole: every section, composed from the configs declared where they are
read (data/config.py, pipeline/params.py, and each architecture's section from its record
in model.ARCHITECTURES), checked strictly. check_params and train load it; a stage that
reads one section loads that section alone (pipeline/config.py `load_section`).

Every architecture has a params section of its name holding its network's keys and its
training recipe (RECIPE_KEYS), so that one flag (`dvc exp run -S model.arch=aligned`)
selects a model that works, and a key an architecture does not use is refused as unknown.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .data.config import DataConfig
from .model import ARCHITECTURES, Architecture, NetConfig, check_learns
from .pipeline.config import build, check_choice, read_yaml, require_sections, section_values
from .pipeline.errors import ConfigError
from .pipeline.params import RECIPE_KEYS, EvaluateConfig, SplitConfig, TrainConfig

Architectures = Mapping[str, Architecture]


@dataclass(frozen=True)
class ModelChoice:
    arch: str  # the architecture, whose section holds its network and recipe


@dataclass(frozen=True)
class Params:
    data: DataConfig
    split: SplitConfig
    net: NetConfig  # the network of the architecture model.arch names
    train: TrainConfig  # the train section with that architecture's recipe
    evaluate: EvaluateConfig


def sections(architectures: Architectures = ARCHITECTURES) -> dict[str, type]:
    """Every section of params.yaml, in its order: the architectures' follow model."""
    return {
        "data": DataConfig,
        "split": SplitConfig,
        "model": ModelChoice,
        **{name: arch.config for name, arch in architectures.items()},
        "train": TrainConfig,
        "evaluate": EvaluateConfig,
    }


SECTIONS = sections()


def load_params(path: str | Path, architectures: Architectures = ARCHITECTURES) -> Params:
    """Read params.yaml into typed sections, rejecting unknown keys and bad values."""
    return params_from_dict(read_yaml(Path(path)), str(path), architectures)


def params_from_dict(
    raw: Any, source: str = "params", architectures: Architectures = ARCHITECTURES
) -> Params:
    known = sections(architectures)
    require_sections(raw, [], source)
    unknown = sorted(set(raw) - set(known), key=str)
    if unknown:
        guesses = [
            match for name in unknown for match in difflib.get_close_matches(str(name), known, n=1)
        ]
        hint = f" (did you mean {', '.join(map(repr, guesses))}?)" if guesses else ""
        raise ConfigError(
            f"{source}: unknown section {', '.join(map(repr, unknown))}{hint}; "
            f"known sections are {', '.join(known)}"
        )
    require_sections(raw, list(known), source)
    values = {name: _values(name, raw[name], source, architectures) for name in known}
    data, split, evaluate = (
        build(known[name], values[name]) for name in ("data", "split", "evaluate")
    )
    arch = ModelChoice(**values["model"]).arch
    check_choice("model.arch", arch, tuple(architectures))
    # Every architecture's section is checked, the chosen one is used.
    nets, trains = {}, {}
    for name, architecture in architectures.items():
        recipe = {k: values[name].pop(k) for k in RECIPE_KEYS}
        nets[name] = build(architecture.config, {"arch": name, **values[name]})
        trains[name] = build(TrainConfig, {**values["train"], **recipe, "recipe_of": name})
    check_learns(nets[arch], data.operation, architectures)
    return Params(data=data, split=split, net=nets[arch], train=trains[arch], evaluate=evaluate)


def section_keys(name: str, architectures: Architectures = ARCHITECTURES) -> list[str]:
    """The keys params.yaml's section `name` takes."""
    if name in architectures:
        net = architectures[name].config
        return [f.name for f in fields(net) if f.name != "arch"] + list(RECIPE_KEYS)
    if name == "train":
        return [
            f.name
            for f in fields(TrainConfig)
            if f.name not in RECIPE_KEYS and f.name != "recipe_of"
        ]
    return [f.name for f in fields(sections(architectures)[name])]


def _values(name: str, raw: Any, source: str, architectures: Architectures) -> dict:
    """Section `name`'s keys and values, exactly the ones it takes."""

    def hint(unknown: list[str]) -> str:
        # A key the chosen architecture does not use is refused like a typo: a setting
        # that silently does nothing is a setting the user believes they changed.
        if name == "model" or (name == "train" and set(unknown) & set(RECIPE_KEYS)):
            return (
                " (an architecture's network and training recipe are in the section "
                "model.arch names, e.g. repeat.hidden_size)"
            )
        homes = [
            other
            for key in unknown
            for other in architectures
            if other != name and key in section_keys(other, architectures)
        ]
        users = list(dict.fromkeys(homes))
        if users:
            uses = "uses" if len(users) == 1 else "use"
            return f" ({name} does not use it; {', '.join(users)} {uses} it)"
        return ""

    return section_values(name, raw, source, section_keys(name, architectures), hint)
