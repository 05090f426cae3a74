"""How a params.yaml section becomes a typed config: reading the file as DVC does, strict
key checking, and the value checks every section's `validate` uses.

params.yaml is the one description of every parameter and the one place of its default
value: the config classes have no defaults, and loading needs every key. Loading is
strict: an unknown key is almost always a typo, and silently ignoring it would train with
a value the user believes they changed. The sections themselves are declared next to the
code that reads them (data/config.py, pipeline/params.py, each architecture's module under
model/); arith_seq2seq/params.py composes them into the whole file.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable, Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from .errors import ConfigError

# Upper bound on the question counts a stage holds in memory at once.
MAX_QUESTIONS = 100_000_000
# Seeds: Lightning's seed_everything and numpy take at most 32 bits.
MAX_SEED = 2**32 - 1
# Upper bound on a learning rate or weight decay: far past any that trains, short of the
# float overflow that 1e300 meets in the optimiser.
MAX_RATE = 100.0
# What one params.yaml value may expand to (YAML aliases repeat a value by reference: a
# 1.5 KB file of nested aliases stands for billions of items), and how deeply it may nest.
MAX_VALUE_ITEMS = 10_000
MAX_DEPTH = 20
# What the project's params.yaml says of every key, quoted by the missing-key messages.
EVERY_KEY = "(the project's params.yaml has each one, with its meaning)"


def shown(value: Any) -> str:
    """`value` as an error message quotes it: repr, cut short by reprlib (a value may be
    huge, or an alias of itself)."""
    short = reprlib.Repr()  # (keyword arguments from Python 3.12 on)
    short.maxlevel, short.maxlist, short.maxdict = 2, 4, 4
    short.maxstring, short.maxlong, short.maxother = 40, 40, 40
    return short.repr(value)


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
                f"{where} holds more than {MAX_VALUE_ITEMS:,} values (YAML aliases repeat "
                "it); parameters are single values or short lists"
            )
        return sizes[id(node)]

    size(value, 0)


def require_sections(raw: Any, names: list[str], source: str) -> None:
    """Refuse a file that is not a mapping of sections, or lacks one of `names`."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    missing = [name for name in names if raw.get(name) is None]
    if missing:
        raise ConfigError(
            f"{source}: missing or empty section {', '.join(map(repr, missing))}; every section "
            f"must be set {EVERY_KEY}"
        )


def section_values(
    name: str,
    raw: Any,
    source: str,
    known: list[str],
    hint: Callable[[list[str]], str] = lambda unknown: "",
) -> dict:
    """Section `name`'s keys and values, exactly the `known` ones: an unknown key is
    refused with `hint(unknown keys)` (where the key belongs, say), a missing one named."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: section {shown(name)} must be a mapping of keys to values")
    unknown = sorted(set(raw) - set(known), key=str)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key {', '.join(f'{name}.{k}' for k in unknown)}{hint(unknown)}; "
            f"{name} takes {', '.join(sorted(known))}"
        )
    missing = [key for key in known if key not in raw]
    if missing:
        raise ConfigError(
            f"{source}: missing key {', '.join(f'{name}.{k}' for k in missing)}; every key must "
            f"be set {EVERY_KEY}"
        )
    # YAML lists become tuples: sections are frozen, hashable values.
    return {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}


def build(cls: type, values: dict):
    """The config `cls` of `values`, validated."""
    section = cls(**values)
    section.validate()
    return section


def load_section(path: str | Path, name: str, cls: type):
    """Section `name` of params file `path` alone, strictly, as config `cls` (a stage that
    reads one section; stages/check_params.py checks the whole file)."""
    raw = read_yaml(Path(path))
    require_sections(raw, [name], str(path))
    known = [f.name for f in fields(cls)]
    return build(cls, section_values(name, raw[name], str(path), known))


def check_int(key: str, value: Any, low: int | None = None, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be a whole number, got {shown(value)}")
    if low is not None and value < low:
        raise ConfigError(f"{key} must be at least {low}, got {shown(value)}")
    if high is not None and value > high:
        raise ConfigError(f"{key} must be at most {high}, got {shown(value)}")


def check_choice(key: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{key} is {shown(value)}; choose one of {', '.join(choices)}")


def check_float(key: str, value: Any, positive: bool = False, high: float | None = None) -> None:
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


def check_fraction(key: str, value: Any) -> None:
    check_float(key, value)
    if not 0 < value < 1:
        raise ConfigError(f"{key} must be between 0 and 1 (exclusive), got {value}")


def check_bool(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, got {shown(value)}")
