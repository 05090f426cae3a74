"""params.yaml is written in the layout DVC writes back.

`dvc exp run -S key=value` rewrites params.yaml with DVC's own YAML writer (ruamel's
round trip). A layout that writer does not reproduce shows up in `git diff` as lines the
user did not change: the old params.yaml indented its `longer_extra_digits` list by four
spaces, DVC writes two, so every experiment re-indented it. Both tests use DVC's own
functions, the ones `dvc exp run -S` calls.
"""

import difflib
import shutil

import yaml
from dvc.utils.hydra import apply_overrides  # what `dvc exp run -S` runs on params.yaml
from dvc.utils.serialize import modify_yaml  # DVC's load-then-dump of a .yaml file

from arith_seq2seq.model import ARCHITECTURES
from arith_seq2seq.params import SECTIONS, section_keys

from .conftest import ROOT


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_dvc_writes_params_yaml_back_byte_for_byte(tmp_path):
    original = (ROOT / "params.yaml").read_text()
    copy = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", copy)
    with modify_yaml(copy):  # load and dump, changing nothing
        pass
    assert changed_lines(original, copy.read_text()) == []
    assert copy.read_text() == original


def test_exp_run_set_param_changes_only_the_lines_it_sets(tmp_path):
    original = (ROOT / "params.yaml").read_text()
    params = yaml.safe_load(original)
    copy = tmp_path / "params.yaml"
    hidden = params["repeat"]["hidden_size"]
    extra = params["data"]["longer_digits"]
    for overrides, expected in [
        # Values as committed: nothing changes, the list included.
        (
            [
                f"repeat.lr={params['repeat']['lr']}",
                f"data.longer_digits=[{','.join(map(str, extra))}]",
            ],
            0,
        ),
        ([f"repeat.hidden_size={hidden + 1}"], 2),  # one line out, one in
        (["model.arch=aligned"], 2),
        ([f"data.longer_digits=[{','.join(str(v + 7) for v in extra)}]"], 2 * len(extra)),
    ]:
        copy.write_text(original)
        apply_overrides(copy, overrides)
        assert len(changed_lines(original, copy.read_text())) == expected, (
            overrides,
            changed_lines(original, copy.read_text()),
        )


def test_params_yaml_has_every_section_with_its_keys_in_order():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert list(params) == list(SECTIONS)
    for name, values in params.items():
        assert sorted(values) == sorted(section_keys(name)), name


def test_dvc_yaml_lists_each_section_for_the_one_stage_that_reads_it():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    listed = {name: stage.get("params", []) for name, stage in stages.items()}
    # train reads model, the section model.arch names (DVC resolves ${model.arch}) and
    # train: a change to another architecture's section reruns nothing.
    assert listed["train"] == ["model", "${model.arch}", "train"]
    assert (listed["generate"], listed["split"], listed["evaluate"]) == (
        ["data"],
        ["split"],
        ["evaluate"],
    )
    resolved = [
        section
        for sections in listed.values()
        for section in sections
        if section != "${model.arch}"
    ]
    assert sorted([*resolved, *ARCHITECTURES]) == sorted(SECTIONS), (
        "each params.yaml section read by exactly one stage"
    )


def test_each_stage_desc_quotes_a_key_of_every_section_it_may_read():
    # DVC resolves a stage's ${...} before it deletes the stage's outputs, under `dvc repro
    # -s STAGE` too: a missing section then stops DVC with every output in place.
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in stages.items():
        sections = [
            s
            for p in stage.get("params", [])
            for s in (ARCHITECTURES if p == "${model.arch}" else [p])
        ]
        for section in sections:
            assert f"${{{section}." in stage["desc"], (name, section)
