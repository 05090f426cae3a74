"""The docs name params keys that exist. The keys of the earlier layout (one network and one
recipe in `model` and `train`, shared by every architecture) are refused by the code, and
named in one marked passage of docs/reliability.md that documents that refusal, nowhere
else: a command or a table with one of them fails for a user who copies it."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml

from arith_seq2seq.model import ARCHITECTURES
from arith_seq2seq.params import params_from_dict, section_keys
from arith_seq2seq.pipeline.errors import ConfigError
from arith_seq2seq.pipeline.params import RECIPE_KEYS

from .conftest import ROOT, run_stage_in_process, train_command, write_params
from .test_docs import assert_quoted, stage_args
from .test_precision import NO_BF16_CPU

START = (
    "<!-- The keys of the earlier layout are named here and nowhere else "
    "(tests/test_docs_keys.py). -->"
)
END = "<!-- End of the earlier layout's keys. -->"


def removed_keys() -> set[str]:
    """The earlier layout's keys, from the code that refuses them: an architecture's network
    keys in `model` (which takes only `arch` now) and its recipe keys in `train`."""
    network = {
        key for arch in ARCHITECTURES for key in section_keys(arch) if key not in RECIPE_KEYS
    }
    keys = {f"model.{key}" for key in network - set(section_keys("model"))}
    keys |= {f"train.{key}" for key in RECIPE_KEYS}
    # Renamed as well as moved (to `layers` in the character architectures' sections), so
    # not derivable from today's names.
    keys.add("model.decoder_layers")
    return keys


def pages() -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text()
        for path in [
            ROOT / "README.md",
            ROOT / "bench" / "README.md",
            *sorted((ROOT / "docs").glob("*.md")),
        ]
    }


def named(text: str) -> list[str]:
    """The removed keys `text` names (`model.hidden_size`, `-S train.lr=0.01`, a table column),
    not as part of a longer name (`repeat.model.hidden_size`, `data/model.pt`)."""
    keys = "|".join(re.escape(key) for key in sorted(removed_keys(), key=len, reverse=True))
    return re.findall(rf"(?<![\w./-])({keys})(?![\w])", text)


@pytest.mark.parametrize("key", sorted(removed_keys()))
def test_each_removed_key_is_refused_with_where_it_lives_now(key):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    section, name = key.split(".")
    params[section][name] = 1
    with pytest.raises(
        ConfigError,
        match=rf"unknown key {re.escape(key)} \(an architecture's network and training "
        r"recipe are in the section model.arch names",
    ):
        params_from_dict(params)


def test_the_removed_keys_are_named_in_one_passage_only():
    passages = {name: text.count(START) for name, text in pages().items() if START in text}
    assert passages == {"docs/reliability.md": 1}, passages
    for name, text in pages().items():
        if name == "docs/reliability.md":
            before, rest = text.split(START)
            passage, after = rest.split(END)
            assert named(passage), "the passage names the earlier layout's keys"
            text = before + after
        assert not named(text), (
            f"{name} names keys of the earlier layout (today's names: pipeline.md): "
            f"{sorted(set(named(text)))}"
        )


def test_the_removed_key_message_is_what_check_params_prints(tmp_path, monkeypatch):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["model"]["hidden_size"] = 96
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    proc = run_stage_in_process("check_params", *stage_args("check_params"))
    assert proc.returncode == 2
    assert_quoted("docs/reliability.md", proc.stderr.strip(), proc.stderr)
    passage = pages()["docs/reliability.md"].split(START)[1].split(END)[0]
    assert proc.stderr.strip() in passage.splitlines()


@pytest.mark.slow
def test_the_precision_message_names_the_architectures_key(tiny_split, tmp_path):
    # reliability.md quotes it: bf16-mixed asked for on a CPU without bfloat16 LSTM kernels.
    params = write_params(
        tmp_path / "params.yaml", {"repeat": {"precision": "bf16-mixed", "max_epochs": 1}}
    )
    proc = subprocess.run(
        train_command(params, tiny_split, tmp_path),
        env={**os.environ, **NO_BF16_CPU},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert_quoted("docs/reliability.md", proc.stderr.strip(), proc.stderr)
    assert proc.stderr.startswith("error: repeat.precision is bf16-mixed")
