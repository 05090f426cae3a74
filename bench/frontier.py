"""The calculator frontier: whole-space quality against pipeline seconds, setting by setting.

    python bench/frontier.py                   # every setting below, about 25 minutes
    python bench/frontier.py --only default --only "hidden 96" --out /tmp/frontier.json
    python bench/frontier.py --set data.operation=mul --only default   # any other change
    python bench/frontier.py --architectures   # the architectures and operations table
    python bench/frontier.py --results         # every architecture x operation: results.md,
                                               # multiplication.md, length-generalisation.md

Each setting is the committed params.yaml with a few keys changed; each runs the whole
pipeline from scratch (`dvc repro -f`, all four stages) in a clone of HEAD and is timed as
a user would time it. With --results each setting is instead the `dvc exp run -S ...` a user
types (after resetting params.yaml to the committed one), in one clone, so stages whose
params did not change come from DVC's run-cache as they would for the user. Prints a
markdown table and writes every figure to bench/frontier.json (--out). Run it on an idle
machine: the times are wall times.

The three benchmarks are modules of bench/benchmarks/ (frontier.py, architectures.py,
results.py: their settings and tables); this file only runs their settings and writes
their rows.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from benchmarks import architectures, frontier, results
from common import BENCH, clone_head, exp_run_command, git, pipeline_env, run_setting

# The mode (its flag) -> its benchmark: SETTINGS, OUT, EXP and report(rows).
MODES = {"frontier": frontier, "architectures": architectures, "results": results}


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
        help=f"run this setting only (repeat for more); names: {'; '.join(frontier.SETTINGS)} "
        f"(or, with --architectures: {'; '.join(architectures.SETTINGS)})",
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
        help="run the architectures-and-operations settings instead "
        "(default out: bench/architectures.json)",
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
    benchmark = MODES[mode]
    settings = benchmark.SETTINGS
    args.out = args.out or BENCH / benchmark.OUT
    names = args.only or list(settings)
    unknown = [n for n in names if n not in settings]
    if unknown:
        parser.error(f"unknown setting {', '.join(unknown)}")
    extra = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}

    workdir = Path(tempfile.mkdtemp(prefix="arith-frontier-"))
    clone = clone_head(workdir / "clone")
    commit = git("rev-parse", "HEAD", cwd=clone).strip()
    shutil.copy(clone / "params.yaml", clone / "params.committed.yaml")
    env = pipeline_env(clone)
    rows = []
    try:
        for name in names:
            print(f"running {name} ...", file=sys.stderr, flush=True)
            changes = {**settings[name], **extra}
            row = run_setting(clone, name, changes, env, args.maps, exp=benchmark.EXP)
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
    with_extra = " with " + ", ".join(f"{k}={v}" for k, v in extra.items()) if extra else ""
    how = "its `dvc exp run`" if benchmark.EXP else "`dvc repro -f`"
    print(f"Commit {commit[:8]}{with_extra}; every setting is {how} in a fresh clone, wall time.\n")
    print(benchmark.report(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
