"""The scores of the tests that train, over seeds and CPU settings: where their floors come from.

A test's seed is fixed, but its rounding is not: floating point differs between CPUs
(oneDNN and MKL choose kernels by instruction set), so a test that trains a model and bounds
one of its scores gets another model on another CPU. Other seeds stand in for that. For each
training of the tests marked `trains` (pyproject.toml), this reruns it through the test's
own functions (imported from tests/, so that the two cannot drift) for 5 seeds (the test's
own first) on 2 CPU settings, each CPU setting a process of its own since oneDNN reads its
limit when torch loads:

- native: this machine as it is;
- avx2: ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2, as on a CPU without AVX-512
  (.ci/run runs the `trains` tests a second time so).

It writes bench/test-thresholds.json (per setting, per score: every run's value, the worst,
the test's bound and its margin) and prints a table; a bound the worst run does not clear
prints FAIL and the exit status is 1.

    python bench/test_thresholds.py                       # everything: about 15 minutes on 2 cores
    python bench/test_thresholds.py --only aligned_steps,one_digit --seeds 3

One torch thread per process, at most 2 processes at a time (the DDP setting: one CPU
setting at a time, each of its runs two processes). --only merges into the existing JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import ROOT, cpu_name, git

sys.path.insert(0, str(ROOT))  # the tests' package: tests/
OUT = ROOT / "bench" / "test-thresholds.json"
CPUS = {
    "native": {},
    "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}
EXTRA_SEEDS = (1, 2, 3, 4, 5)


@dataclass
class Bound:
    """A test's bound on a score: `op` is >=, > or < (<= and == are not used); `value` the
    number."""

    op: str
    value: float

    def holds(self, x: float) -> bool:
        return {">=": x >= self.value, ">": x > self.value, "<": x < self.value}[self.op]

    def worst(self, xs: list[float]) -> float:
        return max(xs) if self.op == "<" else min(xs)

    def margin(self, x: float) -> float:
        return self.value - x if self.op == "<" else x - self.value


@dataclass
class Setting:
    tests: str  # the tests whose bounds these are
    seed: int  # the tests' own
    bounds: Callable[[], dict[str, Bound]]
    measure: Callable[[int, Path], dict[str, float]]  # (seed, a scratch folder) -> scores
    processes: int = 1


# --- the settings: each imports the tests' own functions ---------------------------------


def _written(folder: Path, write: Callable[[Path], object]) -> Path:
    """`folder`, filled by write(folder) the first time it is asked for (data the settings
    share)."""
    if not folder.exists():
        folder.mkdir()
        write(folder)
    return folder


def _tiny_split(folder: Path) -> dict:
    from tests.conftest import tiny_split_paths, write_tiny_split

    return tiny_split_paths(_written(folder / "tiny-split", write_tiny_split))


def _one_digit(folder: Path) -> dict:
    from tests.conftest import one_digit_paths, write_one_digit

    return one_digit_paths(_written(folder / "one-digit", write_one_digit))


def _fresh(folder: Path, name: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=folder))
    return path


def aligned_fit(seed, folder):
    from tests.test_aligned import fit_scores, write_wider_longer

    longer = _written(folder / "wider-longer", write_wider_longer)
    return fit_scores(_tiny_split(folder), longer, _fresh(folder, "aligned"), seed)


def aligned_fit_bounds():
    from tests.test_aligned import FIT_AT_LEAST

    return {name: Bound(">=", v) for name, v in FIT_AT_LEAST.items()}


def aligned_steps(seed, folder):
    from tests.test_aligned import train_aligned, trained_scores

    return {
        f"{operation}_{k}": v
        for operation in ("add", "sub")
        for k, v in trained_scores(train_aligned(operation, seed)).items()
    }


def aligned_steps_bounds():
    exact = {
        "digits_3": Bound(">=", 1.0),
        "digits_100": Bound(">=", 1.0),
        "digits_1000": Bound(">=", 1.0),
        "wrong_steps": Bound("<", 0.5),
    }
    return {f"{operation}_{k}": b for operation in ("add", "sub") for k, b in exact.items()}


def columns_products(seed, folder):
    from tests.test_columns import PRODUCTS_STEPS, products_scores, train_tiny_products

    return products_scores(*train_tiny_products(PRODUCTS_STEPS, seed))


def columns_bounds():
    from tests.test_columns import PRODUCTS_AT_LEAST

    return {name: Bound(">=", v) for name, v in PRODUCTS_AT_LEAST.items()}


def one_digit(seed, folder, precision="32-true"):
    from tests.test_training import learn_one_digit

    return {"exact_match": learn_one_digit(_one_digit(folder), precision, seed)[1]}


def one_digit_bf16(seed, folder):
    from tests.test_precision import bf16_works_here

    # The test skips where bfloat16 does not work (the avx2 setting): no score.
    return one_digit(seed, folder, "bf16-mixed") if bf16_works_here() else {}


def one_digit_bounds():
    from tests.test_training import ONE_DIGIT_AT_LEAST

    return {"exact_match": Bound(">=", ONE_DIGIT_AT_LEAST)}


def ops(name):
    def measure(seed, folder):
        from tests.test_operations_end_to_end import pipeline_scores, run_pipeline

        return pipeline_scores(run_pipeline(name, _fresh(folder, name), seed))

    return measure


def ops_bounds(name):
    def bounds():
        common = {"error_rows": Bound(">", 100), "test_right": Bound(">", 0)}
        if name == "sub":
            return common | {
                "negative_error_rows": Bound(">", 100),
                "negative_predicted_in_errors": Bound(">", 0),
                "test_right_negative": Bound(">", 0),
                "longer_min": Bound(">", 0.3),
                "longer_max": Bound("<", 0.6),
                "negative_pairs_right": Bound(">", 10),
            }
        if name == "columns":
            return common | {"longer_min": Bound(">=", 0.33)}
        return common

    return bounds


def early_stopping(seed, folder):
    import numpy as np
    from tests.test_early_stopping import MAX_EPOCHS, early_stopping_run

    _, trained, curve = early_stopping_run(_one_digit(folder), _fresh(folder, "early"), seed)
    scores = [s for _, s in curve]
    best_epoch = int(np.argmax(scores)) + 1
    # 1 where the test's conditions on the curve hold: stopped early, patience epochs after
    # its best, rising strictly up to it, and the best epoch neither the first nor the last.
    ok = (
        trained.info["epochs"] < MAX_EPOCHS
        and trained.info["epochs"] - best_epoch == 1
        and all(b > a for a, b in zip(scores[:best_epoch], scores[1:best_epoch]))
        and scores[-1] < max(scores)
        and best_epoch > 1
    )
    # Its margin: the smaller of the rise into epoch 2 and the fall after the best, in
    # questions of the 55 (0 or less: the test fails).
    step = min(scores[1] - scores[0], max(scores) - scores[-1]) if len(scores) > 1 else 0.0
    return {
        "curve_discriminates": float(ok),
        "smallest_step": round(step * 55),
        "epochs": trained.info["epochs"],
        "best_epoch": best_epoch,
        "curve": scores,
    }


def early_stopping_bounds():
    return {"curve_discriminates": Bound(">=", 1.0), "smallest_step": Bound(">=", 1)}


def ddp(seed, folder):
    from tests.test_ddp import ddp_run

    return {"val_exact_match": ddp_run(_fresh(folder, "ddp"), seed)[3]}


def ddp_bounds():
    return {"val_exact_match": Bound(">", 0.0), "val_exact_match ": Bound("<", 1.0)}


def ddp_matches(seed, folder):
    from tests.test_ddp_matches_one_process import CURVES, curve_difference, one_and_two_processes

    one, one_live, two, two_live, differences = one_and_two_processes(
        _fresh(folder, "matches"), _tiny_split(folder), seed
    )
    return {
        "largest_weight_difference": max(differences.values()),
        **{f"{s}/{n}": curve_difference(one_live, two_live, s, n) for s, n in CURVES},
        "best_epoch_difference": abs(one.info["best_epoch"] - two.info["best_epoch"]),
    }


def ddp_matches_bounds():
    from tests.test_ddp_matches_one_process import CURVES, TOLERANCE

    return {
        "largest_weight_difference": Bound("<", TOLERANCE),
        **{f"{s}/{n}": Bound("<", 1e-5 if n == "loss" else 1e-6) for s, n in CURVES},
        "best_epoch_difference": Bound("<", 0.5),
    }


def validation_few_steps(seed, folder):
    from tests.test_validation_scoring import few_steps

    split = _tiny_split(folder)
    return {
        f"{arch}_char_difference": abs(few_steps(arch, split, seed)[2])
        for arch in ("seq2seq", "attention")
    }


def validation_few_steps_bounds():
    from tests.test_validation_scoring import DIFFER_BY_MORE_THAN

    return {
        f"{arch}_char_difference": Bound(">", DIFFER_BY_MORE_THAN)
        for arch in ("seq2seq", "attention")
    }


def validation_train_stage(seed, folder):
    from tests.test_validation_scoring import one_epoch_stage

    _, _, greedy_chars, forced_chars = one_epoch_stage(
        _tiny_split(folder), _fresh(folder, "stage"), seed
    )
    return {"char_difference": abs(greedy_chars - forced_chars)}


def validation_train_stage_bounds():
    from tests.test_validation_scoring import DIFFER_BY_MORE_THAN

    return {"char_difference": Bound(">", DIFFER_BY_MORE_THAN)}


def few_steps_loss(seed, folder):
    from tests.test_architectures import ARCH_CELLS, few_steps_losses, questions

    batch = questions("add")
    scores = {}
    for arch, cell in ARCH_CELLS:
        losses = few_steps_losses(arch, cell, batch, seed)[3]
        scores[f"{arch}-{cell}"] = losses[-1] / losses[0]
    return scores


def few_steps_loss_bounds():
    from tests.test_architectures import ARCH_CELLS, LOSS_RATIO_BELOW

    return {f"{arch}-{cell}": Bound("<", LOSS_RATIO_BELOW) for arch, cell in ARCH_CELLS}


def confidence_repeat(seed, folder):
    from tests.conftest import train_tiny
    from tests.test_confidence_and_masks import repeat_preconditions

    from arith_seq2seq.data import question_set
    from arith_seq2seq.model import model_file

    split = _tiny_split(folder)
    trained = model_file.load(train_tiny(split, _fresh(folder, "repeat"), None, {"seed": seed}))
    return repeat_preconditions(trained.model, question_set.load(split["test"]).question)


def confidence_decoder(seed, folder):
    from tests.conftest import train_tiny
    from tests.test_confidence_and_masks import answers_of, decoder_spread

    split, scores = _tiny_split(folder), {}
    for arch in ("seq2seq", "attention"):
        path = train_tiny(
            split,
            _fresh(folder, arch),
            {"arch": arch, "hidden_size": 32},
            {"max_epochs": 1, "lr": 0.03, "seed": seed},
        )
        scores |= {f"{arch}_{k}": v for k, v in decoder_spread(answers_of(path)).items()}
    return scores


def confidence_bounds(kind):
    def bounds():
        if kind == "repeat":
            from tests.test_confidence_and_masks import SPREAD_AT_LEAST, UNLIKE_ANY_POSITION_BY

            return {
                "unlike_any_position": Bound(">", UNLIKE_ANY_POSITION_BY),
                "spread": Bound(">", SPREAD_AT_LEAST),
            }
        return {
            f"{arch}_{k}": b
            for arch in ("seq2seq", "attention")
            for k, b in {
                "answer_lengths": Bound(">", 1),
                "ended": Bound(">", 5000),
                "probability_ratio": Bound(">", 2),
            }.items()
        }

    return bounds


TINY_SEED = 7  # TINY_PARAMS's train.seed
SETTINGS: dict[str, Setting] = {
    "aligned_fit": Setting(
        "test_aligned.py::test_fit_trains_2_digit_sums_that_carry_to_20_digits",
        TINY_SEED,
        aligned_fit_bounds,
        aligned_fit,
    ),
    "aligned_steps": Setting(
        "test_aligned.py::test_a_short_run_takes_every_step_right_and_so_answers_1000_digit_questions",
        0,
        aligned_steps_bounds,
        aligned_steps,
    ),
    "columns_products": Setting(
        "test_columns.py::test_a_tiny_run_answers_products_like_python_integers_and_n_by_1_at_any_length",
        0,
        columns_bounds,
        columns_products,
    ),
    "one_digit": Setting(
        "test_training.py::test_small_model_learns_one_digit_addition",
        1337,
        one_digit_bounds,
        one_digit,
    ),
    "one_digit_bf16": Setting(
        "test_training.py::test_bfloat16_training_learns_like_float32 (skips without bf16)",
        1337,
        one_digit_bounds,
        one_digit_bf16,
    ),
    "ops_sub": Setting(
        "test_operations_end_to_end.py (sub)", TINY_SEED, ops_bounds("sub"), ops("sub")
    ),
    "ops_mul": Setting(
        "test_operations_end_to_end.py (mul)", TINY_SEED, ops_bounds("mul"), ops("mul")
    ),
    "ops_columns": Setting(
        "test_operations_end_to_end.py (columns)", TINY_SEED, ops_bounds("columns"), ops("columns")
    ),
    "early_stopping": Setting(
        "test_early_stopping.py::test_early_stopping_fires_and_the_best_epoch_is_kept",
        TINY_SEED,
        early_stopping_bounds,
        early_stopping,
    ),
    "validation_few_steps": Setting(
        "test_validation_scoring.py::test_validation_of_a_teacher_forced_model_scores_its_greedy_answers",
        0,
        validation_few_steps_bounds,
        validation_few_steps,
    ),
    "validation_train_stage": Setting(
        "test_validation_scoring.py::test_the_train_stage_logs_the_validation_score_of_the_greedy_answers_of_the_model_it_writes",
        TINY_SEED,
        validation_train_stage_bounds,
        validation_train_stage,
    ),
    "few_steps_loss": Setting(
        "test_architectures.py::test_every_arch_and_cell_trains_a_few_steps_and_lowers_the_loss",
        0,
        few_steps_loss_bounds,
        few_steps_loss,
    ),
    "confidence_repeat": Setting(
        "test_confidence_and_masks.py::test_repeat_confidence_is_the_product_of_its_per_position_probabilities",
        TINY_SEED,
        confidence_bounds("repeat"),
        confidence_repeat,
    ),
    "confidence_decoder": Setting(
        "test_confidence_and_masks.py::test_encoder_decoder_confidence_is_the_probability_of_its_whole_answer_and_end",
        TINY_SEED,
        confidence_bounds("decoder"),
        confidence_decoder,
    ),
    "ddp_matches": Setting(
        "test_ddp_matches_one_process.py::test_two_processes_train_the_model_one_process_trains",
        TINY_SEED,
        ddp_matches_bounds,
        ddp_matches,
        processes=2,
    ),
    "ddp": Setting(
        "test_ddp.py::test_two_processes_train_one_model_whose_val_score_holds_up",
        TINY_SEED,
        ddp_bounds,
        ddp,
        processes=2,
    ),
}


def seeds_of(setting: Setting, count: int) -> list[int]:
    return [setting.seed, *[s for s in EXTRA_SEEDS if s != setting.seed]][:count]


# --- a worker: one CPU setting, in a process of its own ----------------------------------


def worker(names: list[str], count: int, out: Path) -> None:
    import torch

    torch.set_num_threads(1)
    results = {}
    quiet = open(os.devnull, "w")  # never closed: the console keeps the stream it found
    with tempfile.TemporaryDirectory(prefix="test-thresholds-") as scratch:
        for name in names:
            setting = SETTINGS[name]
            results[name] = {}
            for seed in seeds_of(setting, count):
                start = time.perf_counter()
                with contextlib.redirect_stdout(quiet):  # the epochs' lines
                    scores = setting.measure(seed, Path(scratch))
                results[name][str(seed)] = {
                    "scores": scores,
                    "seconds": round(time.perf_counter() - start, 1),
                }
                print(
                    f"{os.environ.get('CPU_SETTING')}: {name} seed {seed}: {scores}",
                    file=sys.stderr,
                    flush=True,
                )
                out.write_text(json.dumps(results, indent=1))


def run_workers(names: list[str], count: int, parallel: bool) -> dict[str, dict]:
    """{cpu: {setting: {seed: ...}}}, each CPU setting in its own process."""
    env_base = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "NO_COLOR": "1",
    }
    # Kept: what a failed run measured (--collect summarises it).
    tmp = Path(tempfile.gettempdir()) / "test-thresholds-partial"
    tmp.mkdir(exist_ok=True)
    procs = {}
    for cpu, env in CPUS.items():
        out = tmp / f"{cpu}-{'-'.join(names) if len(names) < 3 else len(names)}.json"
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            "--only",
            ",".join(names),
            "--seeds",
            str(count),
            "--out",
            str(out),
        ]
        procs[cpu] = (subprocess.Popen(cmd, env={**env_base, **env, "CPU_SETTING": cpu}), out)
        if not parallel:
            procs[cpu][0].wait()
    results = {}
    for cpu, (proc, out) in procs.items():
        if proc.wait() != 0:
            raise SystemExit(f"the {cpu} worker failed (exit {proc.returncode})")
        results[cpu] = json.loads(out.read_text())
    return results


def summarise(name: str, by_cpu: dict[str, dict]) -> dict:
    setting = SETTINGS[name]
    scores = {}
    for score, bound in setting.bounds().items():
        key = score.strip()  # a second bound on one score is named with a trailing space
        values = {
            cpu: {
                seed: run["scores"][key]
                for seed, run in by_cpu[cpu][name].items()
                if key in run["scores"]
            }
            for cpu in by_cpu
        }
        flat = [v for per_cpu in values.values() for v in per_cpu.values()]
        worst = bound.worst(flat) if flat else None
        scores[score] = {
            "by_cpu_and_seed": values,
            "worst": worst,
            "bound": f"{bound.op} {bound.value:g}",
            "margin": None if worst is None else round(bound.margin(worst), 6),
            "holds": bool(flat) and all(bound.holds(v) for v in flat),
            "runs": len(flat),
        }
    extra = {
        cpu: {
            seed: {k: v for k, v in run["scores"].items() if k not in {s.strip() for s in scores}}
            for seed, run in by_cpu[cpu][name].items()
        }
        for cpu in by_cpu
    }
    seconds = [run["seconds"] for cpu in by_cpu for run in by_cpu[cpu][name].values()]
    return {
        "tests": setting.tests,
        "test_seed": setting.seed,
        "seeds": list(next(iter(by_cpu.values()))[name]),
        "scores": scores,
        "other_figures": extra,
        "seconds_per_run": [min(seconds), max(seconds)],
    }


def table(results: dict) -> str:
    lines = [
        "| setting | score | bound | worst native | worst avx2 | worst | margin | holds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, entry in results.items():
        for score, s in entry["scores"].items():
            bound = Bound(s["bound"].split()[0], float(s["bound"].split()[1]))
            worst_by = [
                f"{bound.worst(list(v.values())):.4g}" if v else "skipped"
                for v in s["by_cpu_and_seed"].values()
            ]
            worst = "-" if s["worst"] is None else format(s["worst"], ".4g")
            margin = "-" if s["margin"] is None else format(s["margin"], ".4g")
            lines.append(
                f"| {name} | {score.strip()} | {s['bound']} | {' | '.join(worst_by)} | "
                f"{worst} | {margin} | {'yes' if s['holds'] else 'FAIL'} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help="comma-separated settings: " + ", ".join(SETTINGS))
    parser.add_argument(
        "--seeds", type=int, default=5, help="how many seeds, the test's own first (default 5)"
    )
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--table", action="store_true", help="print the table of --out and exit")
    parser.add_argument(
        "--collect",
        nargs="+",
        type=Path,
        metavar="CPU=FILE",
        help="summarise workers' files (native=PATH avx2=PATH) of an interrupted run into --out",
    )
    args = parser.parse_args()
    names = args.only.split(",") if args.only else list(SETTINGS)
    unknown = [n for n in names if n not in SETTINGS]
    if unknown:
        parser.error(f"unknown settings {unknown}; known: {', '.join(SETTINGS)}")
    if args.worker:
        worker(names, args.seeds, args.out)
        return 0
    if args.table:
        print(table(json.loads(args.out.read_text())["settings"]))
        return 0
    if args.collect:
        # What the workers of an interrupted run measured (their files are kept in the
        # temporary folder): every setting with a run on each CPU setting.
        by_cpu = {}
        for item in args.collect:
            cpu, path = str(item).split("=", 1)
            for name, runs in json.loads(Path(path).read_text()).items():
                by_cpu.setdefault(cpu, {}).setdefault(name, {}).update(runs)
        names = [n for n in SETTINGS if all(n in by_cpu[cpu] for cpu in by_cpu) and n in names]
        return write_report(args, names, by_cpu, 0)
    start = time.perf_counter()
    one = [n for n in names if SETTINGS[n].processes == 1]
    many = [n for n in names if SETTINGS[n].processes > 1]
    by_cpu = {cpu: {} for cpu in CPUS}
    for group, parallel in ((one, True), (many, False)):
        if group:
            for cpu, results in run_workers(group, args.seeds, parallel).items():
                by_cpu[cpu] |= results
    return write_report(args, names, by_cpu, time.perf_counter() - start)


def write_report(args, names: list[str], by_cpu: dict, seconds: float) -> int:
    merge = args.only or args.collect
    previous = json.loads(args.out.read_text()) if args.out.exists() and merge else {"settings": {}}
    settings = {**previous["settings"], **{name: summarise(name, by_cpu) for name in names}}
    settings = {name: settings[name] for name in SETTINGS if name in settings}
    commit = git("rev-parse", "--short", "HEAD").strip()
    import torch

    report = {
        "what": "scores of the tests marked `trains`, by CPU setting and seed "
        "(bench/test_thresholds.py)",
        "cpu_settings": CPUS,
        "machine": {
            "processor": cpu_name(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "commit": commit,
        "seconds": round(seconds) + (previous.get("seconds", 0) if merge else 0),
        "settings": settings,
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    text = table(settings)
    print(text)
    return 0 if "FAIL" not in text else 1


if __name__ == "__main__":
    sys.exit(main())
