"""Does a stage keep its last good outputs whenever it dies? Kills at 0.05 s steps through
each stage's start, and a syntax error in each library package.

On the tiny pipeline (tests/dvc_repo.py, reproduced once in a temporary folder):

- for each stage, its command started as `dvc repro` starts it (its outputs deleted,
  DVC_STAGE naming it), then `kill -9` (or Ctrl-C: --signal INT) after 0.00, 0.05, 0.10 s
  ... up to --until seconds: are all of the pipeline's outputs as before?
- for each package of src/arith_seq2seq, a syntax error appended to its __init__.py, then
  `dvc repro`: does it fail, and are the outputs as before?

Writes bench/kill-steps.json and prints a table; the exit status is 1 if any output was
lost at any moment after the first step.

    python bench/kill_steps.py                 # about 4 minutes on 2 cores
    python bench/kill_steps.py --stages train --until 1 --signal INT
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' package: tests/dvc_repo.py builds the tiny pipeline
OUT = ROOT / "bench" / "kill-steps.json"
PACKAGES = ("pipeline", "data", "model", "training", "evaluation")


def kill_steps(repo, name: str, until: float, sig: int) -> list[dict]:
    from tests.dvc_repo import outputs, start_stage

    before, rows = outputs(repo), []
    for step in range(int(round(until / 0.05)) + 1):
        after = step * 0.05
        proc = start_stage(repo, name, stdout=subprocess.DEVNULL)
        time.sleep(after)
        ended = proc.poll() is not None
        if not ended:
            os.killpg(proc.pid, sig)
        _, err = proc.communicate()
        now = outputs(repo)
        lost = sorted(set(before) - set(now))
        rows.append(
            {
                "stage": name,
                "after_s": round(after, 2),
                "ended_first": ended,
                "status": proc.returncode,
                "lost": lost,
                "changed": sorted(k for k in now if k in before and now[k] != before[k]),
                "stderr_lines": len(err.splitlines()),
            }
        )
        # Whatever a step lost, the next starts from the last good outputs.
        subprocess.run(
            ["dvc", "checkout", "-q", "-f"], cwd=repo.path, env=repo.env, capture_output=True
        )
    return rows


def syntax_errors(repo) -> list[dict]:
    from tests.dvc_repo import outputs

    before, rows = outputs(repo), []
    for package in PACKAGES:
        source = repo.path / "src" / "arith_seq2seq" / package / "__init__.py"
        good = source.read_text()
        source.write_text(good + "\ndef broken(:\n")
        done = subprocess.run(
            ["dvc", "repro"], cwd=repo.path, env=repo.env, capture_output=True, text=True
        )
        source.write_text(good)
        now = outputs(repo)
        rows.append(
            {
                "package": package,
                "status": done.returncode,
                "syntax_error": "SyntaxError" in done.stderr + done.stdout,
                "lost": sorted(set(before) - set(now)),
                "changed": sorted(k for k in now if k in before and now[k] != before[k]),
            }
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stages", default="check_params,generate,split,train,evaluate")
    parser.add_argument(
        "--until", type=float, default=2.5, help="the last kill moment, seconds (default 2.5)"
    )
    parser.add_argument("--signal", default="KILL", choices=["KILL", "INT"])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    from tests.dvc_repo import reproduce

    sig = getattr(signal, f"SIG{args.signal}")
    with tempfile.TemporaryDirectory(prefix="kill-steps-") as tmp:
        repo = reproduce(Path(tmp) / "repo").repo
        kills = [
            row
            for name in args.stages.split(",")
            for row in kill_steps(repo, name, args.until, sig)
        ]
        broken = syntax_errors(repo)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    args.out.write_text(
        json.dumps(
            {
                "what": "bench/kill_steps.py",
                "commit": commit,
                "signal": args.signal,
                "kills": kills,
                "syntax_errors": broken,
            },
            indent=1,
        )
        + "\n"
    )
    print("| stage | kills | outputs lost at | ended before the kill |\n| --- | --- | --- | --- |")
    for name in args.stages.split(","):
        rows = [r for r in kills if r["stage"] == name]
        lost = [f"{r['after_s']:.2f} s" for r in rows if r["lost"] or r["changed"]]
        ended = [r["after_s"] for r in rows if r["ended_first"]]
        moments = f"{rows[0]['after_s']:.2f}-{rows[-1]['after_s']:.2f} s"
        first_end = f"from {min(ended):.2f} s" if ended else "never"
        print(f"| {name} | {len(rows)} ({moments}) | {', '.join(lost) or 'never'} | {first_end} |")
    print(
        "\n| package with a syntax error | `dvc repro` status | outputs lost |\n| --- | --- | --- |"
    )
    for row in broken:
        syntax = " (SyntaxError)" if row["syntax_error"] else ""
        print(
            f"| {row['package']} | {row['status']}{syntax} "
            f"| {', '.join(row['lost'] + row['changed']) or 'none'} |"
        )
    late = [r for r in kills if r["after_s"] > 0 and (r["lost"] or r["changed"])]
    return 1 if late or any(r["lost"] or r["changed"] for r in broken) else 0


if __name__ == "__main__":
    sys.exit(main())
