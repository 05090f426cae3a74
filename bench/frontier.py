"""The calculator frontier: whole-space quality against pipeline seconds, setting by setting.

    python bench/frontier.py                   # every setting below, about 25 minutes
    python bench/frontier.py --only default --only "hidden 96" --out /tmp/frontier.json
    python bench/frontier.py --set data.operation=mul --only default   # any other change
    python bench/frontier.py --architectures   # the architectures and operations table
    python bench/frontier.py --results         # every architecture x operation: docs/results.md,
                                               # multiplication.md, length-generalisation.md

Each setting is the committed params.yaml with a few keys changed; each runs the whole
pipeline from scratch (`dvc repro -f`, all four stages) in a clone of HEAD and is timed as
a user would time it. With --results each setting is instead the `dvc exp run -S ...` a user
types (after resetting params.yaml to the committed one), in one clone, so stages whose
params did not change come from DVC's run-cache as they would for the user. Prints a markdown table and writes every figure to
bench/frontier.json (--out). Run it on an idle machine: the times are wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent

# name -> params changed from the committed defaults (section.key: value).
SETTINGS: dict[str, dict] = {
    "default": {},
    "seed 2": {"train.seed": 2},
    "seed 3": {"train.seed": 3},
    "reference (the old default)": {
        "data.sampling": "reference",
        "data.count": 50_000,
        "split.always_train_digits": 0,
        "repeat.batch_size": 256,
        "repeat.max_epochs": 20,
        "repeat.precision": "32-true",
        "train.min_stratum_share": 0.0,
    },
    "balanced sampling, old budget": {
        "data.count": 50_000,
        "repeat.batch_size": 256,
        "repeat.max_epochs": 20,
        "repeat.precision": "32-true",
    },
    "reference sampling": {
        "data.sampling": "reference",
        "split.always_train_digits": 0,
        "train.min_stratum_share": 0.0,
    },
    "no oversampling, no always-train": {
        "split.always_train_digits": 0,
        "train.min_stratum_share": 0.0,
    },
    "300,000 questions": {"data.count": 300_000},
    "500,000 questions, 2 epochs": {"data.count": 500_000, "repeat.max_epochs": 2},
    "4 epochs": {"repeat.max_epochs": 4},
    "2 epochs": {"repeat.max_epochs": 2},
    "batch 256": {"repeat.batch_size": 256},
    "float32": {"repeat.precision": "32-true"},
    "hidden 96": {"repeat.hidden_size": 96},
    "hidden 96, 4 epochs": {"repeat.hidden_size": 96, "repeat.max_epochs": 4},
    "hidden 96, 500,000 questions": {"repeat.hidden_size": 96, "data.count": 500_000},
    "hidden 64": {"repeat.hidden_size": 64},
}


# The architectures and cells, and the other operations, all with the default training.
ARCHITECTURES: dict[str, dict] = {
    **{
        f"add, {arch} {cell}": {"model.arch": arch, f"{arch}.cell": cell}
        for arch in ("repeat", "seq2seq", "attention")
        for cell in ("lstm", "gru", "rnn")
    },
    # The encoder-decoders learn slower under the defaults chosen for repeat (bfloat16,
    # batches of 512, 3 epochs): the same two in float32 with batches of 256.
    "add, seq2seq lstm, float32, batch 256": {
        "model.arch": "seq2seq",
        "seq2seq.precision": "32-true",
        "seq2seq.batch_size": 256,
    },
    "add, attention lstm, float32, batch 256": {
        "model.arch": "attention",
        "attention.precision": "32-true",
        "attention.batch_size": 256,
    },
    "sub, repeat lstm": {"data.operation": "sub"},
    "mul, repeat lstm": {"data.operation": "mul"},
    "mul, attention lstm": {"data.operation": "mul", "model.arch": "attention"},
}


# The results table (docs/results.md): every architecture with every operation it learns,
# each as the user types it, one flag for the architecture (its params section holds its
# recipe); three seeds wherever the table makes a claim (add and sub of every architecture,
# mul of columns), one for multiplication by the character architectures (the baseline).
SEEDS = (1337, 1, 2)


def seeded(seed: int) -> dict:
    """The flag for train.seed, none for the committed 1337."""
    return {} if seed == 1337 else {"train.seed": seed}


# `aligned` answers any length: its rows also score a held-out set of 1,000-digit questions.
LONGEST = [4, 5, 10, 20, 50, 100, 1000]

RESULTS: dict[str, dict] = {
    **{
        f"mul, columns, seed {seed}": {
            "data.operation": "mul",
            "model.arch": "columns",
            **seeded(seed),
        }
        for seed in SEEDS
    },
    **{
        f"{operation}, {arch}, seed {seed}": {
            "data.operation": operation,
            "model.arch": arch,
            **seeded(seed),
        }
        for arch in ("repeat", "seq2seq", "attention")
        for operation in ("add", "sub")
        for seed in SEEDS
    },
    **{
        f"{operation}, aligned, seed {seed}": {
            "data.operation": operation,
            "model.arch": "aligned",
            "data.longer_digits": LONGEST,
            **seeded(seed),
        }
        for operation in ("add", "sub")
        for seed in SEEDS
    },
    **{
        f"mul, {arch}, seed 1337": {"data.operation": "mul", "model.arch": arch}
        for arch in ("repeat", "seq2seq", "attention")
    },
}


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def set_params(path: Path, changes: dict) -> None:
    params = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        section, key = dotted.split(".", 1)
        params[section][key] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def short_errors(space: dict) -> int:
    """Errors among the questions whose operands both have at most 2 digits."""
    sizes = {1: 10, 2: 90}
    total = 0
    for stratum, exact in space["by_digits"].items():
        la, lb = map(int, stratum.split("+"))
        if la <= 2 and lb <= 2:
            total += round((1 - exact) * sizes[la] * sizes[lb])
    return total


def exp_run_command(changes: dict) -> list[str]:
    # Compact JSON: a list such as [4,5,1000] stays one shell word.
    values = {
        k: v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
        for k, v in changes.items()
    }
    return ["dvc", "exp", "run", *(arg for k, v in values.items() for arg in ("-S", f"{k}={v}"))]


def run_setting(
    clone: Path, name: str, changes: dict, env: dict, maps: Path | None = None, exp: bool = False
) -> dict:
    shutil.copy(clone / "params.committed.yaml", clone / "params.yaml")
    if exp:
        command = [str(BIN / "dvc"), *exp_run_command(changes)[1:]]
    else:
        set_params(clone / "params.yaml", changes)
        command = [str(BIN / "dvc"), "repro", "-f"]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        return {
            "name": name,
            "changes": changes,
            "seconds": seconds,
            "failed": (proc.stdout + proc.stderr)[-2000:],
        }
    if maps is not None:
        maps.mkdir(parents=True, exist_ok=True)
        shutil.copy(
            clone / "metrics" / "space.png",
            maps / f"{name.split(' (')[0].replace(' ', '-').replace(',', '')}.png",
        )
    metrics = json.loads((clone / "metrics" / "evaluate.json").read_text())
    train = json.loads((clone / "metrics" / "train" / "metrics.json").read_text())
    space = metrics["space"]
    return {
        "name": name,
        "changes": changes,
        "seconds": seconds,
        "space_exact_match": space["exact_match"],
        "space_errors": space["errors"],
        "unseen_exact_match": space["unseen"]["exact_match"],
        "unseen_errors": space["unseen"]["errors"],
        "unseen_scored": space["unseen"]["scored"],
        "short_errors": short_errors(space),
        "worst": space["worst"],
        "test_exact_match": metrics["test"]["exact_match"],
        "best_val": train["val"]["best_exact_match"],
        "longer": metrics["longer"],
    }


def architecture_table(rows: list[dict]) -> str:
    lines = [
        "| setting | whole space: errors (exact match) | never trained on | operands <= 2 digits: errors | test exact match | longer: 4 / 5 digits | `dvc repro` s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        if "failed" in r:
            lines.append(f"| {r['name']} | failed | | | | | {r['seconds']:.0f} |")
            continue
        longer = " / ".join(v if isinstance(v, str) else f"{v:.4f}" for v in r["longer"].values())
        lines.append(
            f"| {r['name']} | {r['space_errors']:,} ({r['space_exact_match']:.4%}) | {r['unseen_exact_match']:.4%} | "
            f"{r['short_errors']} | {r['test_exact_match']:.4%} | {longer} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


LENGTHS = [4, 5, 10, 20, 50, 100]


def _share(value) -> str:
    return "-" if value is None else "n/a" if isinstance(value, str) else f"{value:.2%}"


def _longer_cells(longer: dict) -> tuple[list[str], str]:
    """Exact match on the N x N digit sets of each length, and the lengths whose carry
    chains were all right."""
    cells = [_share(longer.get(f"digits_{n}")) for n in LENGTHS]
    chains = [v for k, v in longer.items() if k.startswith("chains_")]
    chains = (
        "n/a"
        if any(isinstance(v, str) for v in chains)
        else f"{sum(v == 1.0 for v in chains)} of {len(chains)} lengths"
    )
    return cells, chains


def _failed(r: dict, columns: int) -> str:
    return f"| {r['name']} | failed | " + " | " * columns + f"{r['seconds']:.0f} |"


def arch_of(row: dict) -> str | None:
    """The architecture a results row ran (today's setting of that name, else its record)."""
    return RESULTS.get(row["name"], row["changes"]).get("model.arch")


def aligned_table(rows: list[dict]) -> str:
    """docs/length-generalisation.md's table: the `aligned` rows of the results."""
    lines = [
        "| operation, seed | `dvc exp run` s | whole 3-digit space: wrong (exact) | operands <= 2 digits: wrong | "
        + " / ".join(str(n) for n in LONGEST)
        + " digits | carry chains right | commit |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in (r for r in rows if arch_of(r) == "aligned"):
        longer = r["longer"]
        chains = [v for k, v in longer.items() if k.startswith("chains_")]
        lines.append(
            f"| {r['name'].split(', aligned, ')[0]}, {r['name'].rsplit('seed ', 1)[1]} | {r['seconds']:.0f} | "
            f"{r['space_errors']:,} ({r['space_exact_match']:.4%}) | {r['short_errors']} | "
            + " / ".join(_share(longer.get(f"digits_{n}")) for n in LONGEST)
            + f" | {sum(v == 1.0 for v in chains)} of {len(chains)} lengths | {r['commit'][:7]} |"
        )
    return "\n".join(lines)


def results_table(rows: list[dict]) -> str:
    """Each row's whole-space and short-question errors, the longer sets and, for mul, N x 1
    digits (times1_N)."""
    lines = [
        "| operation, architecture, seed | whole 3-digit space: errors (exact match) | operands <= 2 digits: errors | "
        + " | ".join(f"{n} digits" for n in LENGTHS)
        + " | N x 1 digits: 20 / 50 / 100 | carry chains right | `dvc exp run` s | commit |",
        "| --- | --- | --- | " + " | ".join("---" for _ in LENGTHS) + " | --- | --- | --- | --- |",
    ]
    for r in rows:
        if "failed" in r:
            lines.append(_failed(r, len(LENGTHS) + 3) + f" {(r.get('commit') or '')[:7]} |")
            continue
        cells, chains = _longer_cells(r["longer"])
        times1 = [r["longer"].get(f"times1_{n}") for n in (20, 50, 100)]
        times1 = "-" if all(v is None for v in times1) else " / ".join(_share(v) for v in times1)
        lines.append(
            f"| {r['name']} | {r['space_errors']:,} ({r['space_exact_match']:.4%}) | {r['short_errors']} | "
            + " | ".join(cells)
            + f" | {times1} | {chains} | {r['seconds']:.0f} | {(r.get('commit') or '')[:7]} |"
        )
    return "\n".join(lines)


# docs/results.md shows the character architectures; the digit-column ones have their own
# page, which quotes their rows (a figure is quoted on one page).
RESULTS_ELSEWHERE = {"aligned": "length-generalisation.md", "columns": "multiplication.md"}


def results_page_rows(rows: list[dict]) -> list[dict]:
    """The rows docs/results.md shows: those of the architectures without a page of their own."""
    return [r for r in rows if arch_of(r) not in RESULTS_ELSEWHERE]


def _exp_name(name: str) -> str:
    """A setting's name as an experiment name (a git ref): "add, repeat, seed 1337" -> add-repeat-seed-1337."""
    return "-".join("".join(c if c.isalnum() or c == "." else " " for c in name.lower()).split())


def cpu_table(native: list[dict], avx2: list[dict]) -> str:
    """docs/results.md's second table: the rows rerun with oneDNN and MKL limited to AVX2
    (as on a CPU without AVX-512), beside the same rows natively."""
    lines = [
        "| operation, architecture, seed | whole 3-digit space: wrong, native / AVX2 | operands <= 2 digits: wrong, native / AVX2 "
        "| held-out sets all right, native / AVX2 | `dvc exp run` s, AVX2 |",
        "| --- | --- | --- | --- | --- |",
    ]
    by_name = {r["name"]: r for r in native}
    for r in avx2:
        n = by_name[r["name"]]
        right = [
            "n/a"
            if any(isinstance(v, str) for v in x["longer"].values())
            else f"{sum(v == 1.0 for v in x['longer'].values())} of {len(x['longer'])}"
            for x in (n, r)
        ]
        lines.append(
            f"| {r['name']} | {n['space_errors']:,} / {r['space_errors']:,} | {n['short_errors']} / {r['short_errors']} "
            f"| {right[0]} / {right[1]} | {r['seconds']:.0f} |"
        )
    return "\n".join(lines)


def results_commands(rows: list[dict]) -> str:
    """The rows' `dvc exp run`s, each self-contained: from the committed params.yaml, every
    changed key (today's settings) on its line, and --temp, so no line leaves its values in
    params.yaml for the next."""
    lines = [
        "git show HEAD:params.yaml > params.yaml    # the committed params: every line below starts from them"
    ]
    for r in rows:
        changes = RESULTS.get(r["name"], r["changes"])
        lines.append(
            " ".join(
                ["dvc exp run --temp", "-n", _exp_name(r["name"]), *exp_run_command(changes)[3:]]
            )
        )
    lines.append(
        "dvc exp show --drop '.*' --keep 'Experiment|data.operation|model.arch|train.seed|space.errors|space.exact_match'"
    )
    return "\n".join(lines)


def multiplication_table(rows: list[dict]) -> str:
    """docs/multiplication.md's table: the `columns` rows of the results, one per seed."""
    lines = [
        "| seed | `dvc exp run` s | whole 3x3 space: wrong (exact) | operands <= 2 digits: wrong of 10,000 "
        "| N x N at 4 / 5 / 10 / 20 / 50 / 100 digits | N x 1 at 20 / 50 / 100 digits | carry chains right | commit |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in (r for r in rows if arch_of(r) == "columns"):
        longer = r["longer"]
        square = " / ".join(_share(longer.get(f"digits_{n}")) for n in LENGTHS)
        times1 = " / ".join(_share(longer.get(f"times1_{n}")) for n in (20, 50, 100))
        chains = sum(1 for k, v in longer.items() if k.startswith("chains_") and v == 1.0)
        total = sum(1 for k in longer if k.startswith("chains_"))
        lines.append(
            f"| {r['name'].rsplit('seed ', 1)[1]} | {r['seconds']:.0f} | {r['space_errors']:,} ({r['space_exact_match']:.4%}) | "
            f"{r['short_errors']} | {square} | {times1} | {chains} of {total} lengths | {r['commit'][:7]} |"
        )
    return "\n".join(lines)


def table(rows: list[dict]) -> str:
    lines = [
        "| setting | changed from the default | `dvc repro` s | whole space: errors (exact match) | never trained on: errors (exact match) | operands <= 2 digits: errors | worst stratum |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        changes = ", ".join(f"`{k}={v}`" for k, v in r["changes"].items()) or "-"
        if "failed" in r:
            lines.append(f"| {r['name']} | {changes} | {r['seconds']:.0f} | failed | | | |")
            continue
        lines.append(
            f"| {r['name']} | {changes} | {r['seconds']:.0f} | {r['space_errors']:,} ({r['space_exact_match']:.4%}) | "
            f"{r['unseen_errors']:,} of {r['unseen_scored']:,} ({r['unseen_exact_match']:.4%}) | {r['short_errors']} | "
            f"{r['worst']['digits']} {r['worst']['exact_match']:.4%} |"
        )
    return "\n".join(lines)


def merged(previous: dict, rows: list[dict], order: list[str]) -> list[dict]:
    """The previous file's rows with these rows in place of the same-named ones, in the
    settings' order; rows no longer among the settings are dropped."""
    by_name = {r["name"]: {"commit": previous.get("commit"), **r} for r in previous.get("rows", [])}
    by_name.update({r["name"]: r for r in rows})
    return [by_name[name] for name in order if name in by_name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run this setting only (repeat for more); names: {'; '.join(SETTINGS)} "
        f"(or, with --architectures: {'; '.join(ARCHITECTURES)})",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="also change this param in every setting (YAML value), e.g. data.operation=mul",
    )
    parser.add_argument(
        "--architectures",
        action="store_true",
        help="run the architectures-and-operations settings instead (default out: bench/architectures.json)",
    )
    parser.add_argument(
        "--results",
        action="store_true",
        help="run the results table: every architecture x operation as `dvc exp run -S` "
        "(default out: bench/results-table.json; docs/results.md)",
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--maps", type=Path, help="copy each setting's metrics/space.png into this folder"
    )
    args = parser.parse_args(argv)
    mode = "results" if args.results else "architectures" if args.architectures else "frontier"
    settings = {"results": RESULTS, "architectures": ARCHITECTURES, "frontier": SETTINGS}[mode]
    args.out = args.out or BENCH / ("results-table.json" if args.results else f"{mode}.json")
    exp = mode == "results"
    names = args.only or list(settings)
    unknown = [n for n in names if n not in settings]
    if unknown:
        parser.error(f"unknown setting {', '.join(unknown)}")
    extra = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}

    workdir = Path(tempfile.mkdtemp(prefix="arith-frontier-"))
    clone = workdir / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    commit = git("rev-parse", "HEAD", cwd=clone).strip()
    shutil.copy(clone / "params.yaml", clone / "params.committed.yaml")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": str(clone / "src"),
        "DVC_NO_ANALYTICS": "1",
        "NO_COLOR": "1",
    }
    rows = []
    try:
        for name in names:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            row = run_setting(clone, name, {**settings[name], **extra}, env, args.maps, exp=exp)
            row["command"] = " ".join(exp_run_command(row["changes"]))
            row["commit"] = commit
            rows.append(row)
            print(f"  {json.dumps(row)}", file=sys.stderr, flush=True)
    finally:
        if args.only and args.out.exists():
            # Rerunning some rows keeps the others, each row naming the commit it ran at.
            rows = merged(json.loads(args.out.read_text()), rows, list(settings))
        args.out.write_text(json.dumps({"extra": extra, "rows": rows}, indent=2) + "\n")
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"Commit {commit[:8]}{' with ' + ', '.join(f'{k}={v}' for k, v in extra.items()) if extra else ''}; "
        f"every setting is {'its `dvc exp run`' if exp else '`dvc repro -f`'} in a fresh clone, wall time.\n"
    )
    tables = {"architectures": architecture_table, "frontier": table}
    if mode == "results":
        # docs/results.md: its table, then its commands.
        print(
            results_table(results_page_rows(rows))
            + "\n\n```bash\n"
            + results_commands(results_page_rows(rows))
            + "\n```"
        )
        # docs/multiplication.md and docs/length-generalisation.md: the columns and aligned rows.
        print("\n" + multiplication_table(rows) + "\n\n" + aligned_table(rows))
    else:
        print(tables[mode](rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
