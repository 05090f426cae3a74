"""Smoke test of bench/: the reference generator is right, and the generation benchmark
runs end to end at tiny sizes (no timing is asserted; benchmarks are not tests)."""

import importlib
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[1] / "bench"


def on_path() -> None:
    """bench/ first on sys.path, as for `python bench/SCRIPT.py`: the scripts import
    `common` and `benchmarks.*` from there."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))


def bench_module(name: str):
    """A module the scripts of bench/ import: "common", "benchmarks.results", ..."""
    on_path()
    return importlib.import_module(name)


def bench_script(name: str):
    """The script bench/NAME.py, as the module bench_NAME."""
    on_path()
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_reference_generator_makes_distinct_correct_padded_questions():
    ref = bench_script("reference_generate")
    questions, expected = ref.generate(digits=2, count=300, seed=0)
    assert len(questions) == 300 and all(len(q) == 5 for q in questions)
    pairs = set()
    for q, ans in zip(questions, expected):
        a, b = map(int, q[::-1].strip().split("+"))  # reversed, like the reference
        assert int(ans) == a + b and len(ans) == 3
        pairs.add(tuple(sorted((a, b))))
    assert len(pairs) == 300
    x, y = ref.vectorize(questions, expected, 2)
    assert x.shape == (300, 5) and y.shape == (300, 3) and x.dtype == np.uint8
    onehot, _ = ref.vectorize(questions[:3], expected[:3], 2, encoding="onehot")
    assert (onehot.argmax(-1) == x[:3]).all()


def test_run_py_names_one_module_per_benchmark():
    run = bench_script("run")
    modules = sorted(p.stem for p in (BENCH / "benchmarks").glob("*.py"))
    frontier = bench_script("frontier")
    named = [
        *run.BENCHMARKS.values(),
        *(m.__name__.split(".")[-1] for m in frontier.MODES.values()),
    ]
    assert sorted(named) == [m for m in modules if m != "__init__"]
    for name in run.BENCHMARKS:
        assert callable(run.benchmark(name))


def test_generation_benchmark_runs(tmp_path):
    common = bench_module("common")
    sizes = common.Sizes(
        ref_small=200, ref_large=300, ref_large_digits=4, ref_repeats=(1, 1), ours_repeats=1
    )
    bench = common.Bench(sizes, quick=True, workdir=tmp_path, model=None)
    details = bench_script("run").benchmark("generate")(bench)
    assert details["200x3"]["reference"]["rows"] == details["200x3"]["ours"]["rows"] == 200
    assert [r["unit"] for r in bench.rows] == ["s", "s", "x"] * 2
    json.dumps(details)
    assert common.table(bench.rows).startswith("| benchmark | figure | unit | notes |")


def test_training_throughput_benchmark_resolves_precision_auto(tmp_path):
    """The committed params say `precision: auto`, which Lightning does not know: the
    benchmark resolves it as the train stage does (bf16 where a trial step works)."""
    import dataclasses

    common = bench_module("common")
    sizes = dataclasses.replace(common.QUICK, warmup_epochs=0, measured_epochs=1, rounds=1)
    bench = common.Bench(sizes, quick=True, workdir=tmp_path, model=None)
    assert bench.params().train.precision == "auto"
    details = bench_module("benchmarks.train_throughput").run(bench)
    assert details["precision"] in ("bf16-mixed", "32-true")
    assert details["lightning_samples_per_s"] > 0 and details["bare_samples_per_s"] > 0


def test_the_full_runs_length_is_stated_once_and_from_its_output():
    """docs/benchmarks.md states how long the recorded full run took, from
    bench/results.json's total_seconds; bench/README.md and run.py link to it."""
    import re

    docs = (BENCH.parent / "docs" / "benchmarks.md").read_text()
    total = json.loads((BENCH / "results.json").read_text())["total_seconds"]
    assert f"The whole run took {round(total)} s" in docs
    for path in (BENCH / "README.md", BENCH / "run.py"):
        text = path.read_text()
        assert not re.search(r"\d+-\d+ minutes|\b\d{3} s\b", text), path
        assert "docs/benchmarks.md" in text, path


def test_cpu_matrix_judges_each_cell_by_the_promise():
    matrix = bench_script("cpu_matrix")
    sizes = {"1+1": 100, "1+3": 9000, "3+3": 810_000}
    space = {"by_digits": {"1+1": 1.0, "1+3": 1 - 1 / 9000, "3+3": 1 - 5 / 810_000}}
    by_digits = matrix.stratum_errors(space)
    assert by_digits == {"1+1": 0, "1+3": 1, "3+3": 5} and set(by_digits) == set(sizes)
    cell = {"errors": 6, "short_errors": 0, "by_digits": by_digits}
    # One wrong answer of 9,000 is 99.989%: below the 99.99% every stratum must reach.
    assert matrix.verdict(cell) == ["strata below 99.99%: 1+3"]
    assert matrix.verdict({**cell, "by_digits": {"3+3": 5}}) == []
    assert matrix.verdict({"errors": 21, "short_errors": 1, "by_digits": {"1+1": 1}}) == [
        "21 wrong > 20",
        "1 short wrong",
        "strata below 99.99%: 1+1",
    ]
    cells = [
        {"errors": 3, "short_errors": 0, "precision": "bf16-mixed", "seconds": 50.0, "broken": []},
        {"errors": 9, "short_errors": 0, "precision": "32-true", "seconds": 80.0, "broken": []},
        {
            "errors": 30,
            "short_errors": 0,
            "precision": "32-true",
            "seconds": 85.0,
            "broken": ["30 wrong > 20"],
        },
    ]
    assert matrix.summary(cells) == {
        "errors": [3, 30],
        "short_errors_max": 0,
        "cells": 3,
        "cells_kept": 2,
        "seconds": {"32-true": [80.0, 85.0], "bf16-mixed": [50.0, 50.0]},
    }
    row = {
        "cpu": "avx2",
        "seed": 1,
        "precision": "32-true",
        "errors": 30,
        "short_errors": 0,
        "worst": {"digits": "3+3", "exact_match": 0.99997},
        "seconds": 85.0,
        "broken": ["30 wrong > 20"],
    }
    assert (
        matrix.table([row]).splitlines()[-1]
        == "| avx2 | 1 | 32-true | 30 | 0 | 3+3 99.9970% | 85 | 30 wrong > 20 |"
    )


def test_the_training_tests_bounds_are_the_ones_the_bench_measured_and_they_hold():
    # bench/test-thresholds.json: every `trains` test's training over 5 seeds x 2 CPU
    # settings. A bound changed in a test without a new measurement, or one the worst run
    # does not clear, fails here.
    bench = bench_script("test_thresholds")
    recorded = json.loads((BENCH / "test-thresholds.json").read_text())["settings"]
    assert set(recorded) == set(bench.SETTINGS)
    for name, setting in bench.SETTINGS.items():
        bounds = {score: f"{b.op} {b.value:g}" for score, b in setting.bounds().items()}
        assert bounds == {score: s["bound"] for score, s in recorded[name]["scores"].items()}, name
        for score, s in recorded[name]["scores"].items():
            measured = [len(runs) for runs in s["by_cpu_and_seed"].values() if runs]
            assert s["holds"] and measured and all(n >= 5 for n in measured), (name, score, s)
            # Both CPU settings, unless the test skips on one (bfloat16 without its kernels).
            assert len(measured) == 2 or name == "one_digit_bf16", (name, score)
