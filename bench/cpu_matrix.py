"""The default pipeline on every CPU kind this machine can pose as, for several seeds.

    python bench/cpu_matrix.py                       # every CPU setting x seeds 1337, 1, 2
    python bench/cpu_matrix.py --cpu native --cpu avx2 --seed 1337 --out /tmp/m.json
    python bench/cpu_matrix.py --set repeat.max_epochs=4    # a candidate recipe

oneDNN and MKL choose their kernels by CPU, and bfloat16 rounds differently on AMX,
AVX-512 BF16 and in float32, so one recipe trains a different model on each machine. Each
CPU setting here caps the instruction sets oneDNN and MKL may use (`ONEDNN_MAX_CPU_ISA`,
`MKL_ENABLE_INSTRUCTIONS`), which is how a laptop without AVX-512 or a server without
bfloat16 kernels computes, and `repeat.precision: auto` then chooses as it would there.

Every setting gets its own fresh clone of HEAD, so that DVC's run-cache never hands one
setting another's model; in it each seed is the `dvc exp run -f [-S train.seed=S]` a user
types, timed whole (all stages, from scratch). Writes bench/cpu-matrix.json (--out) with
every cell's errors, per-stratum errors, chosen precision and seconds, and prints a table.
Run it on an idle machine: the times are wall times. About 20 minutes for the 12 cells of
this machine (an AMD EPYC with AVX-512 BF16 and no AMX).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from common import BENCH, BIN, clone_head, cpu_name, git, pipeline_env, timed

# The variables a CPU setting sets: taken out of the environment the cells inherit.
ISA_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
# Each CPU setting's environment, and the CPU flag it needs (a cap above what the CPU has
# changes nothing, so such a setting would only repeat `native`).
CPUS: dict[str, tuple[dict[str, str], str | None]] = {
    "native": ({}, None),
    "avx2": ({"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}, "avx2"),
    "avx512_core": ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"}, "avx512f"),
    "avx512_core_bf16": ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, "avx512_bf16"),
    "avx512_core_amx": ({"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, "amx_bf16"),
}
SEEDS = (1337, 1, 2)
# Operand digit-count strata at data.digits 3 and their sizes: 10 one-digit operands
# (0-9), 90 of two digits, 900 of three.
SIZES = {1: 10, 2: 90, 3: 900}
# The promise each cell is held to (issue 22): at most this many wrong of the whole space,
# none with both operands of at most 2 digits, every stratum at least this exact.
MAX_WRONG = 20
MIN_STRATUM = 0.9999


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(flags.split(":", 1)[-1].split())


def stratum_errors(space: dict) -> dict[str, int]:
    """Wrong answers per operand digit-count stratum (exact match x stratum size)."""
    out = {}
    for stratum, exact in space["by_digits"].items():
        la, lb = map(int, stratum.split("+"))
        out[stratum] = round((1 - exact) * SIZES[la] * SIZES[lb])
    return out


def verdict(cell: dict) -> list[str]:
    """The promises a cell breaks (empty: it keeps them all)."""
    broken = []
    if cell["errors"] > MAX_WRONG:
        broken.append(f"{cell['errors']} wrong > {MAX_WRONG}")
    if cell["short_errors"]:
        broken.append(f"{cell['short_errors']} short wrong")
    low = [
        s
        for s, e in cell["by_digits"].items()
        if e > 0 and 1 - e / (SIZES[int(s[0])] * SIZES[int(s[-1])]) < MIN_STRATUM
    ]
    if low:
        broken.append("strata below 99.99%: " + ", ".join(low))
    return broken


def run_cell(clone: Path, cpu: str, seed: int, env: dict, extra: list[str]) -> dict:
    command = [
        str(BIN / "dvc"),
        "exp",
        "run",
        "-f",
        *extra,
        *(["-S", f"train.seed={seed}"] if seed != 1337 else []),
    ]
    seconds, proc = timed(command, clone, env)
    cell = {
        "cpu": cpu,
        "seed": seed,
        "seconds": round(seconds, 1),
        "command": " ".join(["dvc", *command[1:]]),
    }
    if proc.returncode != 0:
        return {**cell, "failed": (proc.stdout + proc.stderr)[-2000:]}
    chosen = re.search(r"train: precision (\S+)", proc.stdout + proc.stderr)
    space = json.loads((clone / "metrics" / "evaluate.json").read_text())["space"]
    by_digits = stratum_errors(space)
    cell.update(
        precision=chosen.group(1) if chosen else "?",
        errors=space["errors"],
        short_errors=sum(e for s, e in by_digits.items() if max(map(int, s.split("+"))) <= 2),
        unseen_errors=space["unseen"]["errors"],
        by_digits=by_digits,
        worst=space["worst"],
    )
    cell["broken"] = verdict(cell)
    return cell


def table(cells: list[dict]) -> str:
    lines = [
        "| CPU setting | seed | precision | wrong of 1,000,000 | operands <= 2 digits wrong "
        "| worst stratum | `dvc exp run -f` s | promise |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in cells:
        if "failed" in c:
            lines.append(f"| {c['cpu']} | {c['seed']} | | failed | | | {c['seconds']:.0f} | |")
            continue
        worst = f"{c['worst']['digits']} {c['worst']['exact_match']:.4%}"
        kept = "kept" if not c["broken"] else "; ".join(c["broken"])
        lines.append(
            f"| {c['cpu']} | {c['seed']} | {c['precision']} | {c['errors']} "
            f"| {c['short_errors']} | {worst} | {c['seconds']:.0f} | {kept} |"
        )
    return "\n".join(lines)


def summary(cells: list[dict]) -> dict:
    """The ranges a README states: errors, and seconds per precision."""
    done = [c for c in cells if "failed" not in c]
    if not done:
        return {}
    out = {
        "errors": [min(c["errors"] for c in done), max(c["errors"] for c in done)],
        "short_errors_max": max(c["short_errors"] for c in done),
        "cells": len(cells),
        "cells_kept": sum(not c.get("broken", True) for c in cells),
        "seconds": {},
    }
    for prec in sorted({c["precision"] for c in done}):
        secs = [c["seconds"] for c in done if c["precision"] == prec]
        out["seconds"][prec] = [min(secs), max(secs)]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cpu",
        action="append",
        choices=list(CPUS),
        help="CPU settings to run (default: every one this CPU has)",
    )
    parser.add_argument(
        "--seed",
        action="append",
        type=int,
        help=f"train.seed values (default: {', '.join(map(str, SEEDS))})",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="also pass -S KEY=VALUE to every run (a candidate recipe)",
    )
    parser.add_argument("--out", type=Path, default=BENCH / "cpu-matrix.json")
    args = parser.parse_args(argv)
    flags = cpu_flags()
    cpus = args.cpu or [name for name, (_, flag) in CPUS.items() if flag is None or flag in flags]
    seeds = args.seed or list(SEEDS)
    extra = [x for kv in args.set for x in ("-S", kv)]

    workdir = Path(tempfile.mkdtemp(prefix="arith-cpu-matrix-"))
    cells: list[dict] = []
    commit = git("rev-parse", "HEAD").strip()
    try:
        for cpu in cpus:
            # One clone (one DVC cache and run-cache) per CPU setting.
            clone = clone_head(workdir / cpu)
            # The clone's own library, and this setting's limits alone (none inherited).
            env = {k: v for k, v in pipeline_env(clone).items() if k not in ISA_VARIABLES}
            env |= CPUS[cpu][0]
            for seed in seeds:
                print(f"running {cpu}, seed {seed} ...", file=sys.stderr, flush=True)
                cell = run_cell(clone, cpu, seed, env, extra)
                cells.append(cell)
                print(f"  {json.dumps(cell)}", file=sys.stderr, flush=True)
            shutil.rmtree(clone, ignore_errors=True)
    finally:
        import torch  # only for the record of versions

        result = {
            "commit": commit,
            "machine": {
                "cpu": cpu_name(),
                "cores": os.cpu_count(),
                "torch": torch.__version__,
                "bf16_flags": sorted(f for f in flags if "bf16" in f or f.startswith("amx")),
            },
            "set": args.set,
            "promise": {"max_wrong": MAX_WRONG, "short_wrong": 0, "min_stratum": MIN_STRATUM},
            "summary": summary(cells),
            "cells": cells,
        }
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"Commit {commit[:8]}{' with ' + ' '.join(args.set) if args.set else ''} on {cpu_name()}: "
        "each cell is its `dvc exp run -f` in a clone of its own, wall time.\n"
    )
    print(table(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
