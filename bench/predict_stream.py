"""`arith-seq2seq predict` on a long standard input: wall time, time to first answer, peak memory.

    python bench/predict_stream.py                        # data/model.pt, 1,000,000 lines
    python bench/predict_stream.py /tmp/model.pt --lines 200000 --threads 1

Generates random questions a+b with operands of 1 to --digits digits (the default model's
3), pipes them into `arith-seq2seq predict --model MODEL` as fast as the command takes
them, and reads its answers as they come. Prints a markdown table (benchmark, figure,
unit, notes): the whole run's wall time, the time from starting the command to its first
answer (Python, torch and the model load, then one batch), the command's peak RSS, and
how many answers and error lines it printed. It trains nothing: without data/model.pt
(and no MODEL given) it says to run `dvc repro`.

Peak RSS is getrusage(RUSAGE_CHILDREN).ru_maxrss after the command ends. Linux counts a
child's high-water mark from its parent's address space as it was at fork and exec, so this
script never imports torch or the package: its own few tens of MB are all it can add.
Run it on an idle machine: the times are wall times.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
BIN = Path(sys.executable).parent  # the virtualenv's scripts: arith-seq2seq
DEFAULT_MODEL = ROOT / "data" / "model.pt"


def questions(count: int, digits: int, seed: int = 0) -> bytes:
    """`count` lines "a+b\\n", each operand of 1 to `digits` digits (a digit count drawn
    first, as the pipeline's balanced sampling does, so short questions are not rare)."""
    rng = random.Random(seed)
    tops = [10**d for d in range(digits + 1)]

    def operand() -> int:
        d = rng.randint(1, digits)
        return rng.randrange(tops[d - 1] if d > 1 else 0, tops[d])

    return "".join(f"{operand()}+{operand()}\n" for _ in range(count)).encode("ascii")


def feed(pipe, data: bytes) -> None:
    """Write `data` into the command's standard input, then close it (EOF)."""
    try:
        pipe.write(data)
    except BrokenPipeError:  # the command died; its exit status says why
        pass
    finally:
        try:
            pipe.close()
        except BrokenPipeError:
            pass


def count_lines(pipe, into: list) -> None:
    into.append(sum(chunk.count(b"\n") for chunk in iter(lambda: pipe.read1(1 << 16), b"")))


def measure(command: list[str], data: bytes, env: dict) -> dict:
    """Run `command` with `data` on its standard input: wall seconds, seconds to the first
    byte of its standard output, answer and error lines, its peak RSS and exit status."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    errors: list[int] = []
    writer = threading.Thread(target=feed, args=(proc.stdin, data), daemon=True)
    reader = threading.Thread(target=count_lines, args=(proc.stderr, errors), daemon=True)
    writer.start()
    reader.start()
    first = proc.stdout.read1(1 << 16)
    first_answer = time.perf_counter() - start if first else None
    answers = first.count(b"\n") + sum(
        chunk.count(b"\n") for chunk in iter(lambda: proc.stdout.read1(1 << 16), b"")
    )
    code = proc.wait()
    wall = time.perf_counter() - start
    writer.join()
    reader.join()
    proc.stdout.close()
    proc.stderr.close()
    return {
        "wall_s": wall,
        "first_answer_s": first_answer,
        "answers": answers,
        "error_lines": errors[0],
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        "exit_status": code,
    }


def table(rows: list[tuple]) -> str:
    lines = ["| benchmark | figure | unit | notes |", "| --- | --- | --- | --- |"]
    lines += [f"| {name} | {figure} | {unit} | {notes} |" for name, figure, unit, notes in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "model",
        nargs="?",
        type=Path,
        default=DEFAULT_MODEL,
        help="model file (default: data/model.pt, the train stage's)",
    )
    parser.add_argument(
        "--lines", type=int, default=1_000_000, help="questions piped in (default 1,000,000)"
    )
    parser.add_argument(
        "--digits", type=int, default=3, help="operands of 1 to this many digits (default 3)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="OMP_NUM_THREADS for the command (default: torch's, one per core)",
    )
    args = parser.parse_args(argv)
    if not args.model.is_file():
        hint = (
            "run `dvc repro` to train data/model.pt"
            if args.model == DEFAULT_MODEL
            else "pass a model file"
        )
        print(f"error: {args.model}: no such model file; {hint}", file=sys.stderr)
        return 2
    data = questions(args.lines, args.digits)
    env = {**os.environ, "NO_COLOR": "1"}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    command = [str(BIN / "arith-seq2seq"), "predict", "--model", str(args.model)]
    load = os.getloadavg()
    result = measure(command, data, env)
    if (
        result["exit_status"] not in (0, 1)
        or result["answers"] + result["error_lines"] < args.lines
    ):
        print(
            f"error: {' '.join(command)} exited with {result['exit_status']} after "
            f"{result['answers']:,} answers and {result['error_lines']:,} error lines",
            file=sys.stderr,
        )
        return 1
    where = f"{args.lines:,} lines of up to {args.digits} digits, piped"
    rows = [
        (
            "predict: whole run",
            round(result["wall_s"], 1),
            "s",
            f"{where}; {args.lines / result['wall_s']:,.0f} lines/s, "
            "start-up and model load included",
        ),
        (
            "predict: time to first answer",
            round(result["first_answer_s"], 2),
            "s",
            "from starting the command: Python, torch, the model, one batch",
        ),
        (
            "predict: peak RSS",
            round(result["peak_rss_kb"] / 1024),
            "MB",
            "getrusage(RUSAGE_CHILDREN).ru_maxrss",
        ),
        (
            "predict: answers, error lines",
            f"{result['answers']:,}, {result['error_lines']:,}",
            "lines",
            f"exit status {result['exit_status']}",
        ),
    ]
    print(
        f"`{' '.join(command)} < {args.lines:,} lines` (model {args.model}); "
        f"{platform.node()}, {os.cpu_count()} cores, "
        f"OMP_NUM_THREADS={env.get('OMP_NUM_THREADS', 'unset')}, "
        f"load average {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after\n"
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
