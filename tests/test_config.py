import shutil

import pytest
from dvc.utils.hydra import apply_overrides  # what `dvc exp run -S` runs on params.yaml

from arith_seq2seq.model import ARCHITECTURES
from arith_seq2seq.model.aligned import AlignedConfig
from arith_seq2seq.params import load_params, params_from_dict
from arith_seq2seq.pipeline.errors import ConfigError
from arith_seq2seq.pipeline.params import RECIPE_KEYS

from .conftest import REFERENCE, ROOT, TINY_PARAMS


def complete(raw: dict) -> dict:
    """`raw`'s sections filled up with REFERENCE's keys (every key must be given)."""
    full = {name: dict(values) for name, values in REFERENCE.items()}
    for name, values in raw.items():
        full[name] = (
            {**full[name], **values} if isinstance(values, dict) and name in full else values
        )
    return full


def test_repository_params_load_and_keep_the_reference_model():
    params = load_params(ROOT / "params.yaml")
    assert (params.data.digits, params.data.reverse, params.data.operation) == (3, True, "add")
    assert (params.net.cell, params.net.hidden_size, params.net.layers) == ("lstm", 128, 1)
    assert (params.net.arch, params.data.longer_digits) == ("repeat", (4, 5, 10, 20, 50, 100))
    assert params.train.recipe_of == "repeat"
    # The data that make a calculator (docs/calculator.md); the reference's stays selectable.
    assert (params.data.sampling, params.split.always_train_digits) == ("balanced", 2)


def test_a_missing_key_is_named_not_defaulted():
    # params.yaml is the one place of the defaults: a key deleted from it is an error, not
    # a value taken from somewhere else.
    raw = complete({})
    del raw["repeat"]["hidden_size"], raw["repeat"]["lr"]
    with pytest.raises(
        ConfigError, match=r"missing key repeat\.hidden_size, repeat\.lr; every key must be set"
    ):
        params_from_dict(raw)
    # A section the chosen architecture does not use needs every key all the same.
    raw = complete({})
    del raw["columns"]["pair_dim"]
    with pytest.raises(ConfigError, match=r"missing key columns\.pair_dim; every key must be set"):
        params_from_dict(raw)
    with pytest.raises(ConfigError, match=r"missing key data\.digits, data\.count"):
        params_from_dict({**complete({}), "data": {"seed": 1}})


@pytest.mark.parametrize(
    "raw, message",
    [
        # Said as what it is (it was "missing key train.batch_size, ..." for every key).
        (
            {},
            r"^params: missing or empty section 'data', 'split', 'model', 'repeat', 'seq2seq', "
            r"'attention', "
            r"'aligned', 'columns', 'train', 'evaluate'; every section must be set",
        ),
        (
            {name: values for name, values in REFERENCE.items() if name != "aligned"},
            r"^params: missing or empty section 'aligned';",
        ),
        (
            {name: values for name, values in REFERENCE.items() if name != "train"},
            r"^params: missing or empty section 'train';",
        ),
        ({**REFERENCE, "evaluate": None}, r"^params: missing or empty section 'evaluate';"),
        (
            {**REFERENCE, "trian": REFERENCE["train"]},
            r"^params: unknown section 'trian' \(did you mean 'train'\?\); known sections are",
        ),
    ],
)
def test_a_missing_or_misspelled_section_is_named(raw, message):
    with pytest.raises(ConfigError, match=message):
        params_from_dict(raw)


def test_an_empty_params_file_is_named(tmp_path):
    empty = tmp_path / "params.yaml"
    empty.write_text("# nothing yet\n")
    with pytest.raises(
        ConfigError, match=r"params\.yaml: missing or empty section 'data', 'split'"
    ):
        load_params(empty)


@pytest.mark.parametrize(
    "raw, message",
    [
        (
            {"data": {"digit": 3}},
            r"unknown key data\.digit; data takes count, digits, longer_count, longer_digits",
        ),
        ({"data": {"operation": "div"}}, r"data\.operation is 'div'; choose one of add, sub, mul"),
        (
            {"data": {"operation": "mul", "digits": 10}},
            r"data\.digits is 10, but mul answers are exact only up to 9 digits",
        ),
        (
            {"data": {"digits": 19}},
            r"data\.digits is 19, but add answers are exact only up to 18 digits",
        ),
        ({"data": {"longer_digits": 2}}, r"data\.longer_digits must be a list"),
        (
            {"data": {"digits": 5, "longer_digits": [4, 20]}},
            r"data\.longer_digits has 4; held-out lengths must be longer than data\.digits \(5\) "
            r"and at most 1000; change it, or set data\.longer_digits: \[\] for no longer sets",
        ),
        ({"data": {"longer_digits": [20, 1001]}}, r"data\.longer_digits has 1001; .* at most 1000"),
        (
            {"data": {"longer_digits": [20, 20]}},
            r"data\.longer_digits has repeated entries: \[20, 20\]",
        ),
        ({"trian": {}}, r"unknown section 'trian'"),
        ({"data": {"digits": 0}}, r"data\.digits must be at least 1, got 0"),
        ({"data": {"digits": "3"}}, r"data\.digits must be a whole number"),
        ({"data": {"reverse": "yes"}}, r"data\.reverse must be true or false"),
        (
            {"attention": {"reverse_answer": 1}},
            r"^attention\.reverse_answer must be true or false, got 1$",
        ),
        ({"repeat": {"grad_clip": -1}}, r"^repeat\.grad_clip must not be negative, got -1$"),
        ({"columns": {"grad_clip": ".inf"}}, r"^columns\.grad_clip must be a number"),
        (
            {"repeat": {"cell": "transformer"}},
            r"repeat\.cell is 'transformer'; choose one of lstm, gru, rnn",
        ),
        (
            {"model": {"arch": "transformer"}},
            r"^model\.arch is 'transformer'; choose one of repeat, seq2seq, attention, aligned, "
            r"columns$",
        ),
        ({"split": {"val_fraction": 0.5, "test_fraction": 0.5}}, r"leaves no training data"),
        ({"split": {"val_fraction": 0}}, r"split\.val_fraction must be between 0 and 1"),
        ({"repeat": {"lr": 0}}, r"^repeat\.lr must be greater than 0"),
        ({"model": []}, r"section 'model' must be a mapping"),
        ({"train": {"devices": 0}}, r"train\.devices must be at least 1, got 0"),
        ({"train": {"num_nodes": 1.5}}, r"train\.num_nodes must be a whole number"),
        ({"train": {"strategy": "fsdp"}}, r"train\.strategy is 'fsdp'; choose one of auto, ddp"),
        (
            {"repeat": {"batch_size": 3}, "train": {"devices": 2, "num_nodes": 2}},
            r"^repeat\.batch_size \(3\) is split across train\.devices x train\.num_nodes = 4 "
            r"processes; make it at least 4",
        ),
        (
            {"data": {"sampling": "uniform"}},
            r"data\.sampling is 'uniform'; choose one of balanced, reference",
        ),
        (
            {"split": {"always_train_digits": -1}},
            r"split\.always_train_digits must be at least 0, got -1",
        ),
        (
            {"repeat": {"precision": "16-mixed"}},
            r"^repeat\.precision is '16-mixed'; choose one of auto, bf16-mixed, 32-true",
        ),
        # YAML's .inf and .nan: an infinite learning rate trained a model of NaNs (exit 0),
        # a NaN weight decay or stratum share gave a traceback.
        ({"repeat": {"lr": float("inf")}}, r"^repeat\.lr must be a finite number, got inf$"),
        (
            {"train": {"weight_decay": float("inf")}},
            r"^train\.weight_decay must be a finite number, got inf$",
        ),
        (
            {"train": {"weight_decay": float("nan")}},
            r"^train\.weight_decay must be a finite number, got nan$",
        ),
        ({"repeat": {"lr": float("nan")}}, r"^repeat\.lr must be a finite number, got nan$"),
        (
            {"train": {"min_stratum_share": float("nan")}},
            r"^train\.min_stratum_share must be a finite number, got nan$",
        ),
        (
            {"split": {"val_fraction": float("nan")}},
            r"^split\.val_fraction must be a finite number, got nan$",
        ),
        # Sizes whose allocation gave a MemoryError traceback.
        (
            {"repeat": {"hidden_size": 100_000}},
            r"^repeat\.hidden_size must be at most 4096, got 100000$",
        ),
        (
            {"repeat": {"embedding_dim": 100_000}},
            r"^repeat\.embedding_dim must be at most 4096, got 100000$",
        ),
        ({"repeat": {"layers": 1000}}, r"^repeat\.layers must be at most 16, got 1000$"),
        (
            {"columns": {"pair_dim": 100_000}},
            r"^columns\.pair_dim must be at most 4096, got 100000$",
        ),
        (
            {"data": {"longer_count": 10**12}},
            r"^data\.longer_count must be at most 100000000, got 1000000000000$",
        ),
        (
            {"evaluate": {"space_questions": 10**12}},
            r"^evaluate\.space_questions must be at most 100000000",
        ),
        (
            {"train": {"min_stratum_share": 1.5}},
            r"train\.min_stratum_share is 1\.5; it is a share of the training rows, below 1",
        ),
        ({"train": {"min_stratum_share": -0.1}}, r"train\.min_stratum_share must not be negative"),
        (
            {"evaluate": {"space_questions": 0}},
            r"evaluate\.space_questions must be at least 1, got 0",
        ),
        (
            {"train": {"accelerator": "tpu"}},
            r"train\.accelerator is 'tpu'; choose one of cpu, auto, gpu, mps",
        ),
        (
            {"train": {"accelerator": "mps", "devices": 2}},
            r"train\.accelerator is 'mps', which trains in one process; set train\.devices and "
            r"train\.num_nodes to 1 \(they make 2 processes\)",
        ),
        (
            {"evaluate": {"device": "gpu"}},
            r"evaluate\.device is 'gpu'; choose one of auto, cpu, cuda, mps",
        ),
    ],
)
def test_bad_params_name_the_key_and_the_fix(raw, message):
    with pytest.raises(ConfigError, match=message):
        params_from_dict(complete(raw))


def test_unreadable_params_file(tmp_path):
    with pytest.raises(ConfigError, match="no such parameters file"):
        load_params(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML: .* at line 1, column") as info:
        load_params(bad)
    assert "\n" not in str(info.value)


def test_tiny_params_are_valid():
    params_from_dict(complete(TINY_PARAMS))


@pytest.mark.parametrize(
    "raw, message",
    [
        # A key the architecture does not use is refused like a typo, naming who uses it.
        (
            {"aligned": {"embedding_dim": 8}},
            r"^params: unknown key aligned\.embedding_dim \(aligned does not use it; repeat, "
            r"seq2seq, attention use it\); "
            r"aligned takes batch_size, grad_clip, hidden_size, layers, lr, max_epochs, pair_dim, "
            r"patience, precision$",
        ),
        (
            {"repeat": {"pair_dim": 8}},
            r"^params: unknown key repeat\.pair_dim \(repeat does not use it; aligned, columns use "
            r"it\); repeat takes",
        ),
        (
            {"columns": {"cell": "gru"}},
            r"^params: unknown key columns\.cell \(columns does not use it; repeat, seq2seq, "
            r"attention use it\)",
        ),
        (
            {"repeat": {"hiden_size": 64}},
            r"^params: unknown key repeat\.hiden_size; repeat takes batch_size, cell, "
            r"embedding_dim, grad_clip, hidden_size, layers, lr",
        ),
        # The old layout's keys point to the architecture's section.
        (
            {"model": {"hidden_size": 64}},
            r"^params: unknown key model\.hidden_size \(an architecture's network and training "
            r"recipe are in the "
            r"section model\.arch names, e\.g\. repeat\.hidden_size\); model takes arch$",
        ),
        (
            {"model": {"decoder_layers": 2}},
            r"^params: unknown key model\.decoder_layers \(an architecture's network .*\); model "
            r"takes arch$",
        ),
        (
            {"train": {"lr": 0.01}},
            r"^params: unknown key train\.lr \(an architecture's network and training recipe are "
            r"in the section model\.arch names",
        ),
        (
            {"train": {"max_epochs": 1}},
            r"^params: unknown key train\.max_epochs \(an architecture's network",
        ),
    ],
)
def test_a_key_a_section_does_not_take_is_refused_with_its_home(raw, message):
    with pytest.raises(ConfigError, match=message) as info:
        params_from_dict(complete(raw))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "raw, message",
    [
        (
            {"seq2seq": {"cell": "transformer"}},
            r"^seq2seq\.cell is 'transformer'; choose one of lstm, gru, rnn$",
        ),
        ({"aligned": {"pair_dim": 0}}, r"^aligned\.pair_dim must be at least 1, got 0$"),
        ({"seq2seq": {"layers": 0}}, r"^seq2seq\.layers must be at least 1, got 0$"),
        (
            {"attention": {"embedding_dim": -1}},
            r"^attention\.embedding_dim must be at least 0, got -1$",
        ),
        ({"columns": {"layers": 0}}, r"^columns\.layers must be at least 1, got 0$"),
        ({"columns": {"pair_dim": 0}}, r"^columns\.pair_dim must be at least 1, got 0$"),
        ({"aligned": {"lr": 0}}, r"^aligned\.lr must be greater than 0, got 0$"),
        (
            {"columns": {"precision": "16-mixed"}},
            r"^columns\.precision is '16-mixed'; choose one of auto, bf16-mixed, 32-true$",
        ),
        (
            {"seq2seq": {"batch_size": 3}, "train": {"devices": 2, "num_nodes": 2}},
            r"^seq2seq\.batch_size \(3\) is split across train\.devices x train\.num_nodes = 4 "
            r"processes",
        ),
    ],
)
def test_every_architecture_section_is_checked_even_when_not_chosen(raw, message):
    # model.arch is repeat: a bad value in another architecture's section would otherwise
    # only show once someone selects it, maybe in an experiment queued for the night.
    assert complete(raw)["model"]["arch"] == "repeat"
    with pytest.raises(ConfigError, match=message):
        params_from_dict(complete(raw))


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_the_chosen_architecture_brings_its_network_and_recipe(arch):
    operation = "add" if ARCHITECTURES[arch].learns("add") else "mul"
    raw = complete({"model": {"arch": arch}, "data": {"operation": operation}})
    params = params_from_dict(raw)
    section = raw[arch]
    assert type(params.net) is ARCHITECTURES[arch].config and params.net.arch == arch
    assert {k: getattr(params.net, k) for k in section if k not in RECIPE_KEYS} == {
        k: v for k, v in section.items() if k not in RECIPE_KEYS
    }
    assert {k: getattr(params.train, k) for k in RECIPE_KEYS} == {
        k: section[k] for k in RECIPE_KEYS
    }
    assert params.train.recipe_of == arch and params.train.key("lr") == f"{arch}.lr"
    assert params.train.key("seed") == "train.seed"
    # The train section's keys whichever the architecture.
    assert (params.train.seed, params.train.devices) == (
        raw["train"]["seed"],
        raw["train"]["devices"],
    )


def test_selecting_an_architecture_alone_picks_its_network_and_recipe(tmp_path):
    # `dvc exp run -S model.arch=aligned` and nothing else: the aligned section's network
    # and recipe, not the repeat reference's.
    copy = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", copy)
    apply_overrides(copy, ["model.arch=aligned"])
    params = load_params(copy)
    assert params.net == AlignedConfig(arch="aligned", hidden_size=32, layers=2, pair_dim=16)
    assert (params.train.lr, params.train.max_epochs, params.train.recipe_of) == (
        0.01,
        1,
        "aligned",
    )
    assert params.data == load_params(ROOT / "params.yaml").data


@pytest.mark.parametrize(
    "arch, operation, able",
    [
        ("aligned", "mul", "repeat.*seq2seq.*attention.*columns"),
        ("columns", "add", "repeat.*seq2seq.*attention.*aligned"),
        ("columns", "sub", "repeat.*seq2seq.*attention.*aligned"),
    ],
)
def test_an_architecture_that_cannot_learn_the_operation_is_refused_on_loading(
    arch, operation, able
):
    # Before the data are generated, not once train builds the model.
    with pytest.raises(
        ConfigError,
        match=rf"^model\.arch is {arch}, which \w+ .*, not {operation} \(data\.operation\); "
        rf"for {operation} choose .*{able}$",
    ):
        params_from_dict(complete({"model": {"arch": arch}, "data": {"operation": operation}}))
    # Not chosen, the same section is fine.
    params_from_dict(complete({"data": {"operation": operation}}))
