"""An operation defined here and nowhere in src/ (integer division, a // b, whose operand
domain leaves out b == 0) goes through the real stages, generate, split, a tiny train and
evaluate: adding an operation is its `Operation` record, and every sampler, the held-out
sets and the whole-space enumeration ask the record which questions exist."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from arith_seq2seq import cli
from arith_seq2seq.data import question_set
from arith_seq2seq.data.longer_sets import generate_longer
from arith_seq2seq.data.operations import (
    OPERATIONS,
    OperandDomain,
    Operation,
    operands_with_digits,
    operation_named,
)
from arith_seq2seq.data.questions import distinct_questions, generate_questions
from arith_seq2seq.evaluation.space import space_operands
from arith_seq2seq.model import model_file
from arith_seq2seq.pipeline.errors import ConfigError

from .conftest import (
    config,
    evaluate_args,
    run_stage_in_process,
    split_args,
    tiny_split_paths,
    train_command,
    write_params,
)


def _div_chains(n: int) -> list[tuple[str, str]]:
    nines, one_then_zeros = "9" * n, "1" + "0" * (n - 1)
    return [(nines, "1"), (nines, "9"), (one_then_zeros, "3"), (nines, "0")]


def _nonzero_divisors(la: int, lb: int) -> int:
    # Of the one-digit divisors, 0 is left out.
    return operands_with_digits(la) * (operands_with_digits(lb) - (lb == 1))


DIV = Operation(
    "div",
    "/",
    np.floor_divide,
    lambda x, y: x // y,
    commutative=False,
    signed=False,
    product_width=False,
    # (nines, "0") is no question: the held-out chains must drop it.
    chains=_div_chains,
    longer_shapes=(("digits", None), ("times1", 1)),
    domain=OperandDomain(allows=lambda a, b: b != 0, count=_nonzero_divisors),
)


@contextmanager
def registered(op: Operation) -> Iterator[Operation]:
    """`op` in the registry for the block: what a params.yaml, a data file and a model
    file name is resolved through."""
    assert op.name not in OPERATIONS
    OPERATIONS[op.name] = op
    try:
        yield op
    finally:
        del OPERATIONS[op.name]


@pytest.fixture
def div() -> Iterator[Operation]:
    with registered(DIV) as op:
        yield op


def answers(qs) -> list[str]:
    return [text.strip() for text in qs.format.vocab.texts(qs.answer)]


def assert_divisions(qs) -> None:
    """Every question a // b with b != 0, and its answer the quotient."""
    a, b = qs.a.tolist(), qs.b.tolist()
    assert len(a) and all(int(y) != 0 for y in b)
    assert answers(qs) == [str(int(x) // int(y)) for x, y in zip(a, b)]


@pytest.mark.parametrize("sampling", ["balanced", "reference"])
def test_the_samplers_draw_only_what_the_domain_allows(div, sampling):
    cfg = config("data", operation="div", digits=2, count=3000, sampling=sampling, seed=3)
    qs = generate_questions(cfg)
    assert qs.format.operation is div and len(qs) == 3000
    assert_divisions(qs)
    assert len(set(zip(qs.a.tolist(), qs.b.tolist()))) == 3000
    # Near the whole domain the samplers enumerate it: every allowed question, and no more.
    assert distinct_questions(1, div, sampling) == 90
    every = generate_questions(replace(cfg, digits=1, count=90))
    assert sorted(zip(every.a.tolist(), every.b.tolist())) == [
        (x, y) for x in range(10) for y in range(1, 10)
    ]
    with pytest.raises(ConfigError, match="only 90 distinct"):
        generate_questions(replace(cfg, digits=1, count=91))


def test_the_longer_sets_and_the_chains_keep_to_the_domain(div):
    sets = generate_longer(config("data", operation="div", digits=2, longer_digits=(3, 30)))
    assert list(sets) == [f"{kind}_{n}" for n in (3, 30) for kind in ("digits", "times1", "chains")]
    for qs in sets.values():
        assert_divisions(qs)
    # One-digit divisors: 1 to 9, never 0.
    assert set(sets["times1_30"].b.tolist()) <= set("123456789")
    assert len(sets["chains_3"]) == 3


def test_the_whole_space_leaves_out_what_the_domain_does(div):
    a, b = space_operands(div, 2, 1_000_000, seed=0)
    assert len(a) == 100 * 99 and not (b == 0).any()
    assert list(zip(a[:3].tolist(), b[:3].tolist())) == [(0, 1), (0, 2), (0, 3)]
    sampled_a, sampled_b = space_operands(div, 4, 5_000, seed=0)
    assert len(sampled_a) == 5_000 and not (sampled_b == 0).any()


def test_the_record_is_resolved_once_and_only_while_registered():
    with registered(DIV):
        assert operation_named("div") is DIV
    with pytest.raises(KeyError):
        operation_named("div")


def ok(stage: str, *args) -> None:
    """Run a stage's entry point in this process, as dvc.yaml runs it, and expect success."""
    result = run_stage_in_process(stage, *args)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_an_operation_added_in_a_test_runs_through_every_stage(div, tmp_path: Path):
    params = write_params(
        tmp_path / "params.yaml",
        {
            "data": {"operation": "div", "count": 3000, "longer_digits": [3]},
            "model": {"arch": "repeat"},
        },
    )
    split = tiny_split_paths(tmp_path)
    questions = tmp_path / "questions.npz"
    ok("generate", "--params", params, "--out", questions, "--longer-dir", split["longer"])
    ok("split", *split_args(params, questions, split["train"], split["val"], split["test"]))
    ok("train", *train_command(params, split, tmp_path)[2:])

    generated = question_set.load(questions)
    assert generated.format.operation is div and len(generated) == 3000
    assert_divisions(generated)
    parts = {name: question_set.load(split[name]) for name in ("train", "val", "test")}
    assert sum(len(qs) for qs in parts.values()) == 3000
    for path, qs in question_set.load_longer(split["longer"]).items():
        assert qs.format.operation is div, path
        assert_divisions(qs)

    trained = model_file.load(tmp_path / "model.pt")
    assert trained.format.operation is div
    assert model_file.read_info(tmp_path / "model.pt")["operation"] == "div"
    # predict asks the domain too: 7/0 is refused, 7/1 answered.
    answers, problems = cli.answer_lines(trained, ["7/0", "7/1"])
    assert problems == {0: "'7/0': div is not defined for these operands"}
    assert list(answers) == [1]

    out = tmp_path / "evaluate"
    out.mkdir()
    ok("evaluate", *evaluate_args(params, tmp_path / "model.pt", split, out))
    metrics = json.loads((out / "m.json").read_text())
    assert metrics["test"]["n_samples"] == len(parts["test"])
    # The space the model answers: every pair of 2-digit operands but the 100 with b == 0.
    space = metrics["space"]
    assert space["questions"] == space["scored"] == 100 * 99
    assert set(space["by_digits"]) == {"1+1", "1+2", "2+1", "2+2"}
    # Division has no carries to count: the breakdown is its header only.
    assert (out / "c.csv").read_text().strip() == "carries,n,exact_match"
