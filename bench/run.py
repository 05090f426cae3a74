"""Benchmarks: print a markdown table and write the figures as JSON.

    python bench/run.py                       # everything, full size (the recorded run's length: docs/benchmarks.md)
    python bench/run.py --quick               # small sizes: a smoke run in under a minute
    python bench/run.py --only generate,predict --out /tmp/results.json

Benchmarks (names for --only):
  generate          our generator against the reference's per-question loop, at 50,000
                    questions (3 digits) and 1,000,000 (6 digits: only 500,500 distinct
                    3-digit questions exist, the reference would loop forever)
  generate-10m      our generator, 10,000,000 questions of 9 digits: time and peak memory
  train-throughput  samples/s of Seq2SeqModule under Lightning against a bare PyTorch loop
  time-to-99        time and epochs to 99% validation exact match, default params
  dvc-noop          `dvc repro` (and `dvc status`) on an up-to-date pipeline, in a clone
  predict           model load, one question, 10,000 questions, the whole command
  space             the evaluate stage's whole-space scoring (questions/s) against the
                    plain batched predict, and its report (metrics, errors, map)

Run it on an idle machine: every figure is a wall time, and on a loaded one torch's
threads wait for each other (an epoch can take 20 times longer). Each benchmark records
the load average before and after it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent  # the virtualenv's scripts: dvc, arith-seq2seq
if str(BENCH) not in sys.path:  # run.py's sibling modules, also when it is imported
    sys.path.insert(0, str(BENCH))


@dataclass
class Sizes:
    ref_small: int = 50_000  # questions, at 3 digits (the reference's setting)
    ref_large: int = 1_000_000  # at 6 digits
    ref_large_digits: int = 6
    ref_repeats: tuple = (3, 1)  # runs of the reference at each size (1M takes minutes)
    ours_repeats: int = 5
    big: int = 10_000_000
    big_digits: int = 9
    data_overrides: dict = field(default_factory=dict)  # for the training benchmarks
    warmup_epochs: int = 1
    measured_epochs: int = 3
    rounds: int = 2
    target: float = 0.99
    train_overrides: dict = field(default_factory=dict)
    dvc_runs: int = 5
    predict_repeats: int = 50
    batch_questions: int = 10_000
    command_runs: int = 5


FULL = Sizes()
QUICK = Sizes(
    ref_small=5_000,
    ref_large=20_000,
    ref_repeats=(1, 1),
    ours_repeats=3,
    big=200_000,
    data_overrides={"digits": 2, "count": 4_000},
    measured_epochs=1,
    rounds=1,
    # Not 99%: 4,000 two-digit questions get nowhere near it in 3 epochs; a target of 0
    # is reached after the first epoch, which exercises the code and nothing more.
    target=0.0,
    train_overrides={"max_epochs": 3},
    dvc_runs=3,
    predict_repeats=10,
    batch_questions=1_000,
    command_runs=3,
)


class Bench:
    """State shared by the benchmarks of one run: sizes, a scratch folder, the model."""

    def __init__(self, sizes: Sizes, quick: bool, workdir: Path, model: Path | None):
        self.sizes = sizes
        self.quick = quick
        self.workdir = workdir
        self.model = model  # a model file for `predict`, from --model or time-to-99
        self.clone: Path | None = None  # the dvc-noop clone, once made
        self.rows: list[dict] = []

    def row(self, benchmark: str, figure, unit: str, notes: str = "") -> None:
        self.rows.append({"benchmark": benchmark, "figure": figure, "unit": unit, "notes": notes})

    def params(self):
        from arith_seq2seq.params import load_params

        # The committed defaults: HEAD's params.yaml, not a colleague's uncommitted edit.
        text = git("show", "HEAD:params.yaml")
        path = self.workdir / "params.yaml"
        path.write_text(text)
        p = load_params(path)
        return replace(
            p,
            data=replace(p.data, **self.sizes.data_overrides),
            train=replace(p.train, **self.sizes.train_overrides),
        )

    def split(self) -> dict[str, Path]:
        import train_loops

        folder = self.workdir / "split"
        if not folder.is_dir():
            folder.mkdir()
            p = self.params()
            train_loops.make_split(folder, p.data, p.split)
        return {name: folder / f"{name}.npz" for name in ("train", "val", "test")}


# ---------------------------------------------------------------------------- generate


def child_generate(impl: str, digits: int, count: int, repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(BENCH)}
    out = subprocess.run(
        [
            sys.executable,
            str(BENCH / "generate_child.py"),
            impl,
            str(digits),
            str(count),
            str(repeats),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def bench_generate(b: Bench) -> dict:
    s = b.sizes
    details = {}
    for (digits, count), ref_repeats in zip(
        ((3, s.ref_small), (s.ref_large_digits, s.ref_large)), s.ref_repeats
    ):
        ref = child_generate("reference", digits, count, ref_repeats)
        ours = child_generate("ours", digits, count, s.ours_repeats)
        t_ref, t_ours = statistics.median(ref["seconds"]), statistics.median(ours["seconds"])
        label = f"generate {count:,} questions, {digits} digits"
        b.row(
            f"{label}: reference loop",
            round(t_ref, 3),
            "s",
            f"Keras example's while-loop (bench/reference_generate.py), median of {ref_repeats}; "
            f"peak RSS {ref['peak_rss_kb'] / 1024:.0f} MiB",
        )
        b.row(
            f"{label}: ours",
            round(t_ours, 4),
            "s",
            f"generate_questions, median of {s.ours_repeats}; peak RSS {ours['peak_rss_kb'] / 1024:.0f} MiB",
        )
        b.row(f"{label}: speed-up", round(t_ref / t_ours, 1), "x", "reference time / our time")
        details[f"{count}x{digits}"] = {"reference": ref, "ours": ours, "speedup": t_ref / t_ours}
    details["digits_note"] = (
        f"{s.ref_large:,} questions at {s.ref_large_digits} digits: only 500,500 distinct 3-digit "
        "additions exist, so the reference would loop forever at 3 digits"
    )
    return details


def bench_generate_big(b: Bench) -> dict:
    s = b.sizes
    r = child_generate("ours", s.big_digits, s.big, 1)
    label = f"generate {s.big:,} questions, {s.big_digits} digits: ours"
    b.row(label, round(r["seconds"][0], 2), "s", "fresh process, one run")
    b.row(
        f"{label}, peak memory",
        round(r["peak_rss_kb"] / 1024),
        "MiB",
        f"peak RSS of that process; {r['baseline_rss_kb'] / 1024:.0f} MiB before generating, "
        f"{r['output_bytes'] / 2**20:.0f} MiB of output arrays",
    )
    return r


# ---------------------------------------------------------------------------- training


def bench_train_throughput(b: Bench) -> dict:
    import train_loops

    s = b.sizes
    p = b.params()
    r = train_loops.throughput(
        b.split(), p.net, p.train, s.warmup_epochs, s.measured_epochs, s.rounds
    )
    how = (
        f"{r['train_samples']:,} training questions, batch {p.train.batch_size}, {r['threads']} torch threads; "
        f"median of {s.measured_epochs * s.rounds} epochs after {s.warmup_epochs} warm-up, validation excluded"
    )

    def spread(name):  # a wide range means the machine was busy: trust no figure then
        return (
            f"epochs took {min(r['epoch_seconds'][name]):.2f}-{max(r['epoch_seconds'][name]):.2f} s"
        )

    b.row(
        "training throughput: Lightning",
        round(r["lightning_samples_per_s"]),
        "samples/s",
        f"{how}; {spread('lightning')}",
    )
    b.row(
        "training throughput: bare PyTorch loop",
        round(r["bare_samples_per_s"]),
        "samples/s",
        f"same model, batches, optimiser, schedule and per-step metrics; {spread('bare')}",
    )
    b.row(
        "Lightning overhead",
        round(100 * r["overhead"], 1),
        "%",
        "bare samples/s / Lightning samples/s - 1; goal < 10%",
    )
    b.row(
        "Lightning overhead, CPU time",
        round(100 * r["cpu_overhead"], 1),
        "%",
        "the same from CPU seconds per epoch (process_time): less sensitive to other processes' load",
    )
    return r


def bench_time_to_99(b: Bench) -> dict:
    import train_loops

    from arith_seq2seq.model import model_file

    s = b.sizes
    p = b.params()
    r, trained = train_loops.time_to_target(b.split(), p.net, p.train, s.target)
    what = f"val/exact_match >= {s.target:g}, default params" + (
        " (quick: small data, low target)" if b.quick else ""
    )
    if r["reached"]:
        b.row(
            f"time to {s.target:.0%} validation exact match",
            round(r["seconds"], 1),
            "s",
            f"{what}; training.fit, from its start to the end of that epoch's validation",
        )
        b.row(
            f"epochs to {s.target:.0%} validation exact match",
            r["epoch"],
            "epochs",
            f"val/exact_match {r['val_exact_match']:.4f} then",
        )
    else:
        b.row(
            f"time to {s.target:.0%} validation exact match",
            "not reached",
            "",
            f"{what}; best {max((c['val_exact_match'] for c in r['curve']), default=0):.4f} in {r['epochs_run']} epochs",
        )
    if b.model is None:
        b.model = b.workdir / "model.pt"
        model_file.save(b.model, trained)
        r["model"] = str(b.model)
    return r


# ---------------------------------------------------------------------------- dvc


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def pipeline_env(clone: Path) -> dict:
    # The clone's own library, not the editable install's /work/main/src, and the
    # virtualenv's python and dvc first on PATH (dvc.yaml runs `python stages/...`).
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(clone / "src"),
        "DVC_NO_ANALYTICS": "1",
        "NO_COLOR": "1",
    }


def timed(
    cmd: list[str], cwd: Path, env: dict | None = None
) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - start, proc


def bench_dvc_noop(b: Bench) -> dict:
    s = b.sizes
    clone = b.workdir / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    commit = git("rev-parse", "HEAD", cwd=clone).strip()
    if b.quick:
        # A tiny pipeline: the no-op check hashes file metadata, so its time barely
        # depends on data size; the first run must be short here.
        import yaml

        params = yaml.safe_load((clone / "params.yaml").read_text())
        params["data"].update(digits=2, count=2000, longer_count=200)
        params[params["model"]["arch"]].update(max_epochs=1)  # the recipe is the architecture's
        (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = pipeline_env(clone)
    dvc = str(BIN / "dvc")
    first, proc = timed([dvc, "repro"], clone, env)
    if proc.returncode != 0:
        raise RuntimeError(
            f"dvc repro in the clone failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
        )
    noop, status = [], []
    for _ in range(s.dvc_runs):
        t, proc = timed([dvc, "repro"], clone, env)
        if proc.returncode != 0 or "up to date" not in proc.stdout + proc.stderr:
            raise RuntimeError(f"second dvc repro was not a no-op:\n{proc.stdout[-2000:]}")
        noop.append(t)
        t, proc = timed([dvc, "status"], clone, env)
        status.append(t)
    b.clone = clone
    size = "tiny params" if b.quick else "default params"
    b.row(
        "dvc repro, whole pipeline from scratch",
        round(first, 1),
        "s",
        f"clone of HEAD {commit[:8]}, {size}, one run (the set-up of the no-op timing)",
    )
    b.row(
        "dvc repro, no-op (pipeline up to date)",
        round(statistics.median(noop), 2),
        "s",
        f"median of {s.dvc_runs}, whole command",
    )
    b.row(
        "dvc status, up to date",
        round(statistics.median(status), 2),
        "s",
        f"median of {s.dvc_runs}",
    )
    return {"commit": commit, "first_repro_s": first, "noop_repro_s": noop, "status_s": status}


# ---------------------------------------------------------------------------- predict


def bench_model(b: Bench) -> Path:
    """The model file to time: --model, time-to-99's, the dvc-noop clone's, or a new one."""
    if b.model is None and b.clone is not None and (b.clone / "data" / "model.pt").is_file():
        b.model = b.clone / "data" / "model.pt"
    if b.model is None:
        bench_time_to_99(b)  # trains one (and adds its rows: they are real figures too)
    return b.model


def bench_predict(b: Bench) -> dict:
    import numpy as np

    from arith_seq2seq import cli
    from arith_seq2seq.model import model_file

    s = b.sizes
    path = bench_model(b)
    loads = []
    for _ in range(6):
        start = time.perf_counter()
        trained = model_file.load(path)
        loads.append(time.perf_counter() - start)
    digits = trained.format.digits
    # The README's question, cut to the model's operand length.
    one = ["+".join(x[:digits] for x in ("345", "678"))]
    rng = np.random.default_rng(0)
    a, c = rng.integers(0, 10**digits, size=(2, s.batch_questions))
    many = [f"{x}+{y}" for x, y in zip(a, c)]

    def median_time(lines, repeats):
        cli.answer_lines(trained, lines)  # warm-up, as the README measured
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            answers, problems = cli.answer_lines(trained, lines)
            times.append(time.perf_counter() - start)
        assert not problems and len(answers) == len(lines), problems
        return statistics.median(times)

    t_one = median_time(one, s.predict_repeats)
    t_many = median_time(many, max(3, s.predict_repeats // 10))
    command = [str(BIN / "arith-seq2seq"), "predict", "--model", str(path), one[0]]
    runs = []
    for _ in range(s.command_runs):
        t, proc = timed(command, b.workdir, {**os.environ, "NO_COLOR": "1"})
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {proc.stderr}")
        runs.append(t)
    b.row(
        "predict: load the model file",
        round(1000 * statistics.median(loads[1:]), 1),
        "ms",
        f"model_file.load, median of {len(loads) - 1} after one; model: {path.name} ({digits} digits)",
    )
    b.row(
        "predict: one question",
        round(1000 * t_one, 2),
        "ms",
        f"cli.answer_lines on {one[0]!r} after one warm-up call, median of {s.predict_repeats}",
    )
    b.row(
        f"predict: {s.batch_questions:,} questions",
        round(t_many, 3),
        "s",
        f"cli.answer_lines, batched; {s.batch_questions / t_many:,.0f} questions/s",
    )
    b.row(
        f"`arith-seq2seq predict {one[0]}`",
        round(statistics.median(runs), 2),
        "s",
        f"whole command (Python and torch start-up, load, answer), median of {s.command_runs}",
    )
    return {
        "model": str(path),
        "load_s": loads,
        "one_question_s": t_one,
        "batch_s": t_many,
        "batch_questions": s.batch_questions,
        "command_s": runs,
        "question": one[0],
    }


def bench_space(b: Bench) -> dict:
    """The evaluate stage's whole-space scoring, against asking the same questions the
    plain way (answering.answer_questions batch by batch, what `predict` does)."""
    import numpy as np

    from arith_seq2seq.data import question_set
    from arith_seq2seq.data.questions import question_and_answer_ids
    from arith_seq2seq.evaluation.scoring import evaluate
    from arith_seq2seq.evaluation.space import (
        error_cases,
        score_space,
        space_metrics,
        space_operands,
    )
    from arith_seq2seq.evaluation.space_map import draw_space, save_png
    from arith_seq2seq.model import answering, model_file

    path = bench_model(b)
    trained = model_file.load(path)
    p = b.params()
    sets = {name: question_set.load(f) for name, f in b.split().items()}
    fmt = trained.format
    if any(qs.format != fmt for qs in sets.values()):  # a --model of other data
        sets = {name: qs.take(np.zeros(0, dtype=np.int64)) for name, qs in sets.items()}
    limit, batch = p.evaluate.space_questions, p.evaluate.batch_size
    test = evaluate(trained, sets["test"], batch)  # the test split's errors, for error_cases

    start = time.perf_counter()
    score = score_space(trained, sets, limit, p.evaluate.seed, batch)
    t_score = time.perf_counter() - start
    start = time.perf_counter()
    metrics = space_metrics(score)
    errors = error_cases(score, fmt, sets["test"], test.errors, test.wrong)
    save_png(draw_space(score, fmt.symbol), b.workdir / "space.png")
    t_report = time.perf_counter() - start

    a, c = space_operands(fmt.digits, limit, p.evaluate.seed)
    question, _ = question_and_answer_ids(a, c, fmt)
    start = time.perf_counter()
    answering.answer_questions(trained.model, question, fmt.answer_width, batch)
    t_plain = time.perf_counter() - start

    n = len(score.a)
    params = trained.model.config
    what = f"{params.arch} {params.cell} {params.hidden_size}, {fmt.digits} digits ({path.name})"
    b.row(
        f"whole-space scoring, {n:,} questions",
        round(n / t_score),
        "questions/s",
        f"space.score_space: encode, shared-prefix predict, which split each is in; {t_score:.2f} s; {what}",
    )
    b.row(
        "whole-space scoring, the plain way",
        round(n / t_plain),
        "questions/s",
        f"answering.answer_questions in batches of {batch}, as `predict` asks: {t_plain:.2f} s; "
        f"shared prefixes are {t_plain / t_score:.1f}x faster",
    )
    b.row(
        "whole-space report",
        round(t_report, 2),
        "s",
        f"metrics, {len(errors):,} error rows sorted by stratum, the {score.digits}-digit map as PNG",
    )
    return {
        "questions": n,
        "score_s": t_score,
        "plain_s": t_plain,
        "report_s": t_report,
        "exact_match": metrics["exact_match"],
        "model": str(path),
    }


BENCHMARKS = {
    "generate": bench_generate,
    "generate-10m": bench_generate_big,
    "train-throughput": bench_train_throughput,
    "time-to-99": bench_time_to_99,
    "dvc-noop": bench_dvc_noop,
    "predict": bench_predict,
    "space": bench_space,
}


# ---------------------------------------------------------------------------- report


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def machine_info() -> dict:
    import dvc
    import numpy
    import pytorch_lightning
    import torch

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem = next(
        (
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        "0",
    )
    dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gib": round(int(mem) / 2**20, 1),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": pytorch_lightning.__version__,
        "dvc": dvc.__version__,
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "commit": git("rev-parse", "HEAD").strip() + ("+uncommitted changes" if dirty else ""),
    }


def table(rows: list[dict]) -> str:
    lines = ["| benchmark | figure | unit | notes |", "| --- | --- | --- | --- |"]
    for r in rows:
        figure = f"{r['figure']:,}" if isinstance(r["figure"], (int, float)) else str(r["figure"])
        lines.append(f"| {r['benchmark']} | {figure} | {r['unit']} | {r['notes']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
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
        for name in names:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            before, start, first_row = loadavg(), time.perf_counter(), len(b.rows)
            details = BENCHMARKS[name](b)
            results["benchmarks"][name] = {
                "seconds": time.perf_counter() - start,
                "loadavg_before": before,
                "loadavg_after": loadavg(),
                "rows": b.rows[first_row:],
                "details": details,
            }
            print(
                f"  {name}: {time.perf_counter() - start:.1f} s, load average {before[0]:.2f} -> {loadavg()[0]:.2f}",
                file=sys.stderr,
                flush=True,
            )
    finally:
        results["total_seconds"] = time.perf_counter() - started
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
        if args.keep:
            print(f"scratch folder kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    m = machine
    print(
        f"# arith-seq2seq benchmarks ({results['mode']}{', quick sizes: figures are not meaningful' if args.quick else ''})\n"
    )
    print(
        f"Machine: {m['cpu']}, {m['cores_usable']} of {m['cores']} cores usable, {m['memory_gib']} GiB, "
        f"{m['torch_threads']} torch threads; Python {m['python']}, torch {m['torch']}, "
        f"Lightning {m['lightning']}, DVC {m['dvc']}, numpy {m['numpy']}; commit {m['commit'][:12]}"
        f"{' (+uncommitted changes)' if 'uncommitted' in m['commit'] else ''}.\n"
    )
    print(table(b.rows))
    loads = [
        (n, r["loadavg_before"][0], r["loadavg_after"][0]) for n, r in results["benchmarks"].items()
    ]
    print(
        "\nLoad average (1 min) before -> after each benchmark: "
        + "; ".join(f"{n} {x:.2f} -> {y:.2f}" for n, x, y in loads)
        + f". Total {results['total_seconds']:.0f} s. JSON: {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
