"""Benchmarks: print a markdown table and write the figures as JSON.

    python bench/run.py              # everything, full size (its length: docs/benchmarks.md)
    python bench/run.py --quick      # small sizes: a smoke run in under a minute
    python bench/run.py --only generate,predict --out /tmp/results.json

Benchmarks (names for --only):
  generate          our generator against the reference's per-question loop, at 50,000
                    questions (3 digits) and 1,000,000 (6 digits: only 500,500 distinct
                    3-digit questions exist, the reference would loop forever)
  generate-10m      our generator, 10,000,000 questions of 9 digits: time and peak memory
  train-throughput  samples/s of TrainingModule under Lightning against a bare PyTorch loop
  time-to-99        time and epochs to 99% validation exact match, default params
  dvc-noop          `dvc repro` (and `dvc status`) on an up-to-date pipeline, in a clone
  predict           model load, one question, 10,000 questions, the whole command
  space             the evaluate stage's whole-space scoring (questions/s) against the
                    plain batched predict, and its report (metrics, errors, map)

Run it on an idle machine: every figure is a wall time, and on a loaded one torch's
threads wait for each other (an epoch can take 20 times longer). Each benchmark records
the load average before and after it.

Each benchmark is a module of bench/benchmarks/ (generate-10m is generate_10m.py, ...);
this file only runs them and writes their rows and details.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import BENCH, FULL, QUICK, Bench, loadavg, machine_info, table

# name for --only -> its module in benchmarks/, imported when it runs (torch and the
# package load only for the benchmarks that need them). The order is the run's.
BENCHMARKS = {
    "generate": "generate",
    "generate-10m": "generate_10m",
    "train-throughput": "train_throughput",
    "time-to-99": "time_to_99",
    "dvc-noop": "dvc_noop",
    "predict": "predict",
    "space": "space",
}


def benchmark(name: str):
    """The `run(b: Bench) -> dict` of the benchmark --only calls `name`."""
    return importlib.import_module(f"benchmarks.{BENCHMARKS[name]}").run


def arguments(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The options, and the names of the benchmarks to run, in the run's order."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: a smoke run, figures meaningless"
    )
    parser.add_argument("--only", help=f"comma-separated names among {', '.join(BENCHMARKS)}")
    parser.add_argument(
        "--out",
        type=Path,
        help="JSON output (default: bench/results.json, the committed figures; with --quick, "
        "bench/results-quick.json, which git ignores, so a smoke run never replaces them)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        help="model file for `predict` (default: the one time-to-99 trains, "
        "else the dvc-noop clone's, else one trained on the spot)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads, in this process and (as OMP_NUM_THREADS) in the "
        "pipeline and predict commands it starts (default: torch's, one per core)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the scratch folder (clone, data, model) and print its path",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = BENCH / ("results-quick.json" if args.quick else "results.json")
    names = (
        list(BENCHMARKS)
        if not args.only
        else [n.strip() for n in args.only.split(",") if n.strip()]
    )
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(
            f"unknown benchmark {', '.join(unknown)}; choose among {', '.join(BENCHMARKS)}"
        )
    return args, names


def run_each(names: list[str], b: Bench, into: dict) -> None:
    """Run the benchmarks one after the other, each entry of `into` written as soon as its
    benchmark ends (an interrupted run keeps those that finished)."""
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        before, start, first_row = loadavg(), time.perf_counter(), len(b.rows)
        details = benchmark(name)(b)
        into[name] = {
            "seconds": time.perf_counter() - start,
            "loadavg_before": before,
            "loadavg_after": loadavg(),
            "rows": b.rows[first_row:],
            "details": details,
        }
        print(
            f"  {name}: {time.perf_counter() - start:.1f} s, "
            f"load average {before[0]:.2f} -> {loadavg()[0]:.2f}",
            file=sys.stderr,
            flush=True,
        )


def report(results: dict, rows: list[dict], out: Path, quick: bool) -> str:
    """The printed report: the machine, the table, the load averages."""
    m = results["machine"]
    mode = results["mode"] + (", quick sizes: figures are not meaningful" if quick else "")
    loads = [
        (n, r["loadavg_before"][0], r["loadavg_after"][0]) for n, r in results["benchmarks"].items()
    ]
    return (
        f"# arith-seq2seq benchmarks ({mode})\n\n"
        f"Machine: {m['cpu']}, {m['cores_usable']} of {m['cores']} cores usable, "
        f"{m['memory_gib']} GiB, {m['torch_threads']} torch threads; Python {m['python']}, "
        f"torch {m['torch']}, Lightning {m['lightning']}, DVC {m['dvc']}, numpy {m['numpy']}; "
        f"commit {m['commit'][:12]}"
        f"{' (+uncommitted changes)' if 'uncommitted' in m['commit'] else ''}.\n\n"
        + table(rows)
        + "\n\nLoad average (1 min) before -> after each benchmark: "
        + "; ".join(f"{n} {x:.2f} -> {y:.2f}" for n, x, y in loads)
        + f". Total {results['total_seconds']:.0f} s. JSON: {out}"
    )


def main(argv: list[str] | None = None) -> int:
    args, names = arguments(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)

    workdir = Path(tempfile.mkdtemp(prefix="arith-bench-"))
    b = Bench(QUICK if args.quick else FULL, args.quick, workdir, args.model)
    machine = machine_info()
    results = {"mode": "quick" if args.quick else "full", "machine": machine, "benchmarks": {}}
    if loadavg()[0] > 0.5 * (machine["cores_usable"] or 1):
        print(
            f"warning: load average {loadavg()[0]:.2f} on {machine['cores_usable']} cores: "
            "other work is running, the figures will be noisy",
            file=sys.stderr,
        )
    started = time.perf_counter()
    try:
        run_each(names, b, results["benchmarks"])
    finally:
        results["total_seconds"] = time.perf_counter() - started
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        if args.keep:
            print(f"scratch folder kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(report(results, b.rows, args.out, args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
