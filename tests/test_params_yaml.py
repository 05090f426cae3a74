"""params.yaml is read as DVC reads it (YAML 1.2), and no value of it, however crafted,
costs more than a bounded moment and a bounded line: through the check_params stage, the
one judge of params.yaml."""

from __future__ import annotations

import time

import pytest
import yaml
from dvc.utils.serialize import parse_yaml  # what `dvc params diff` and `dvc exp show` read

from arith_seq2seq.params import load_params
from arith_seq2seq.pipeline.config import read_yaml

from .conftest import REFERENCE, TINY_PARAMS, run_stage_in_process


def params_text(tmp_path, **lines: str):
    """The tiny params as YAML text, with `section.key: text` lines replaced verbatim."""
    params = {
        section: {**REFERENCE[section], **TINY_PARAMS.get(section, {})} for section in REFERENCE
    }
    lines_of = yaml.safe_dump(params, sort_keys=False).splitlines()
    for dotted, value in lines.items():
        section, key = dotted.split("__")
        start = lines_of.index(f"{section}:")
        at = next(i for i in range(start + 1, len(lines_of)) if lines_of[i].startswith(f"  {key}:"))
        lines_of[at] = f"  {key}: {value}"
    text = "\n".join(lines_of) + "\n"
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def check(path):
    done = run_stage_in_process(
        "check_params", "--params", path, "--out", path.with_suffix(".checked")
    )
    return done.returncode, done.stderr.splitlines()


def test_values_are_the_ones_dvc_records(tmp_path):
    # YAML 1.1 (PyYAML, before) and 1.2 (DVC) disagree on these: 020 trained 16 while DVC
    # recorded 20; 1:30 was 90; yes was true.
    path = params_text(
        tmp_path, repeat__hidden_size="020", evaluate__batch_size="1:30", data__reverse="yes"
    )
    assert read_yaml(path) == parse_yaml(path.read_text(), str(path))
    code, err = check(path)
    assert (code, err) == (2, ["error: data.reverse must be true or false, got 'yes'"])
    path = params_text(tmp_path, repeat__hidden_size="020", evaluate__batch_size="1:30")
    assert check(path) == (2, ["error: evaluate.batch_size must be a whole number, got '1:30'"])
    path = params_text(tmp_path, repeat__hidden_size="020")
    assert check(path)[0] == 0
    assert load_params(path).net.hidden_size == 20


def laughs(levels: int) -> str:
    """A list whose YAML aliases nest `levels` deep, each level 9 of the one below."""
    anchors = ["&l0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    anchors += [f"&l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "[" + ", ".join(anchors) + "]"


@pytest.mark.parametrize(
    "lines, message",
    [
        # 9**8 items by reference in 1.5 KB: 90 s, 1.1 GB and a 360 MB error line before.
        (
            {"repeat__hidden_size": laughs(8)},
            "error: params.yaml: repeat holds more than 10,000 values (YAML aliases repeat it)",
        ),
        (
            {"split__seed": str(2**64)},
            "error: split.seed must be at most 4294967295, got 18446744073709551616",
        ),
        (
            {"train__seed": str(2**32)},
            "error: train.seed must be at most 4294967295, got 4294967296",
        ),
        ({"repeat__lr": "1e300"}, "error: repeat.lr must be at most 100, got 1e+300"),
        (
            {"train__weight_decay": "1e300"},
            "error: train.weight_decay must be at most 100, got 1e+300",
        ),
        ({"data__seed": "1" * 5000}, "error: params.yaml: a value cannot be read"),
        ({"data__seed": "[" * 5000 + "]" * 5000}, "error: params.yaml: "),
    ],
    ids=[
        "billion laughs",
        "split.seed 2**64",
        "train.seed 2**32",
        "lr 1e300",
        "weight_decay 1e300",
        "5000 digits",
        "5000 deep",
    ],
)
def test_a_crafted_value_is_one_short_line_at_once(tmp_path, lines, message):
    path = params_text(tmp_path, **lines)
    start = time.perf_counter()
    code, err = check(path)
    assert time.perf_counter() - start < 10
    assert code == 2 and len(err) == 1 and len(err[0]) < 300, err
    assert err[0].startswith(message.replace("params.yaml", str(path))), err


def test_a_network_too_large_for_memory_is_refused_before_any_allocation(tmp_path):
    # Each within its own bound, together 4096 x 4096 x 16 layers: an allocation error
    # deep in torch before.
    path = params_text(tmp_path, repeat__hidden_size="4096", repeat__layers="16")
    code, err = check(path)
    assert code == 2 and err[0].startswith("error: repeat's network would have about "), err
    assert err[0].endswith(
        "weights, more than 100,000,000; make repeat.hidden_size or repeat.layers smaller"
    )
