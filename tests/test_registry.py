"""An architecture is one record (model/architecture.py `Architecture`) in one registry
(model.ARCHITECTURES): its params section, its docs and the params loader all follow it."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import torch
import yaml
from torch import nn

from arith_seq2seq.cli import parse
from arith_seq2seq.data.operations import operation_named
from arith_seq2seq.data.question_format import QuestionFormat
from arith_seq2seq.model import (
    ARCHITECTURES,
    Architecture,
    ModelSpec,
    NetConfig,
    build,
    check_learns,
)
from arith_seq2seq.model.model_file import TrainedModel
from arith_seq2seq.params import params_from_dict, section_keys, sections
from arith_seq2seq.pipeline.config import check_int
from arith_seq2seq.pipeline.errors import ConfigError
from arith_seq2seq.pipeline.params import RECIPE_KEYS

from .conftest import REFERENCE, ROOT, config


def table_rows(page: str) -> list[str]:
    """The first cells of a markdown page's table rows."""
    text = (ROOT / "docs" / page).read_text()
    return re.findall(r"^\| ([^|]+?) \|", text, flags=re.MULTILINE)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_a_registered_architecture_has_its_params_section_and_docs_rows(arch):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert arch in params, f"params.yaml has no section {arch!r}"
    assert sorted(params[arch]) == sorted(section_keys(arch))
    # The table of architectures a user picks from, and the parameter table with each key.
    assert any(cell.startswith(f"`{arch}`") for cell in table_rows("architectures.md")), (
        f"docs/architectures.md: no row for {arch}"
    )
    documented = set(table_rows("pipeline.md"))
    missing = [k for k in section_keys(arch) if f"`{arch}.{k}`" not in documented]
    assert not missing, f"docs/pipeline.md: no row for {arch}'s keys {missing}"


# A test-only architecture, declared as a module under model/ declares one.
@dataclass(frozen=True)
class EchoConfig(NetConfig):
    width: int  # units of its one layer

    def validate(self) -> None:
        check_int(f"{self.arch}.width", self.width, 1, 64)


class Echo(nn.Module):
    def __init__(self, spec: ModelSpec):
        super().__init__()
        self.spec, self.layer = spec, nn.Linear(spec.config.width, spec.config.width)


ECHO = Architecture("echo", Echo, EchoConfig, operations=("sub",))
REGISTRY = {**ARCHITECTURES, "echo": ECHO}


def with_echo(arch: str = "echo", operation: str = "sub", **echo) -> dict:
    raw = {name: dict(values) for name, values in REFERENCE.items()}
    raw["model"]["arch"], raw["data"]["operation"] = arch, operation
    raw["echo"] = {"width": 3, **{k: raw["repeat"][k] for k in RECIPE_KEYS}, "lr": 0.5, **echo}
    return raw


def test_registering_an_architecture_is_one_record(monkeypatch):
    params = params_from_dict(with_echo(), architectures=REGISTRY)
    assert params.net == EchoConfig(arch="echo", width=3)
    assert (params.train.recipe_of, params.train.lr) == ("echo", 0.5)
    assert list(sections(REGISTRY))[-3:] == ["echo", "train", "evaluate"]
    assert section_keys("echo", REGISTRY) == ["width", *RECIPE_KEYS]
    # Its section is checked like any other, chosen or not.
    with pytest.raises(ConfigError, match=r"^params: unknown key echo\.widht;"):
        params_from_dict(with_echo(widht=3), architectures=REGISTRY)
    with pytest.raises(ConfigError, match=r"^echo\.width must be at most 64, got 65$"):
        params_from_dict(
            with_echo(arch="repeat", operation="add", width=65), architectures=REGISTRY
        )
    # And so are the operations it declares.
    with pytest.raises(
        ConfigError,
        match=r"^model\.arch is echo, which learns sub, not add \(data\.operation\); for add "
        r"choose model\.arch repeat \| seq2seq \| attention \| aligned$",
    ):
        params_from_dict(with_echo(operation="add"), architectures=REGISTRY)
    # Unregistered, its section is unknown.
    with pytest.raises(ConfigError, match=r"^params: unknown section 'echo'"):
        params_from_dict(with_echo(arch="repeat", operation="add"))
    # Registered, model.build finds its network, as training and the model file do.
    monkeypatch.setitem(ARCHITECTURES, "echo", ECHO)
    network = build(ModelSpec(params.net, QuestionFormat(operation_named("sub"), 3, True)))
    assert isinstance(network, Echo) and network.layer(torch.zeros(1, 3)).shape == (1, 3)


def test_operations_none_means_every_operation_one_defined_at_run_time_included():
    anything = Architecture("anything", Echo, EchoConfig, operations=None)
    assert anything.learns("max") and anything.learns("add")
    check_learns(EchoConfig("anything", 3), "max", {"anything": anything})
    for name in ("repeat", "seq2seq", "attention"):
        assert ARCHITECTURES[name].operations is None


@pytest.mark.parametrize("operation, able", [("add", "aligned"), ("mul", "columns")])
def test_predict_names_the_architectures_that_answer_any_length_from_the_registry(operation, able):
    fmt = QuestionFormat(operation_named(operation), 2, True)
    model = build(ModelSpec(config("model", hidden_size=8), fmt)).eval()
    symbol = "+" if operation == "add" else "*"
    with pytest.raises(ValueError, match=rf"cannot read longer ones \(model\.arch {able} can\)$"):
        parse(f"123{symbol}4", TrainedModel(model=model, info={}), allow_longer=False)
