"""Time one question generator in this (fresh) process and report its peak memory.

    python bench/generate_child.py {ours|reference} DIGITS COUNT REPEATS

Prints one JSON object: seconds per repeat, the process's peak RSS and its peak RSS
before generating (interpreter plus imports), so the generator's own footprint is their
difference. The generation benchmarks (benchmarks/generate.py, generate_10m.py) start one
process per measurement (`in_fresh_process`), so one measurement's memory never inflates
another's.

Peak RSS is VmHWM from /proc/self/status, the high-water mark of this process's own
address space. Not getrusage's ru_maxrss: Linux carries the parent's high-water mark over
fork and exec into the child's ru_maxrss, so a child of a benchmark process that holds
torch would report at least the parent's few hundred MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def in_fresh_process(impl: str, digits: int, count: int, repeats: int) -> dict:
    """What `main` returns, from a process of its own (the parent's side of this script)."""
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


def peak_rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])  # kB
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def main(impl: str, digits: int, count: int, repeats: int) -> dict:
    if impl == "ours":
        from arith_seq2seq.data.config import DataConfig
        from arith_seq2seq.data.questions import generate_questions

        # The reference's sampling, the one the reference generator is compared with.
        cfg = DataConfig(
            digits=digits,
            count=count,
            operation="add",
            sampling="reference",
            reverse=True,
            seed=1337,
            longer_digits=(),
            longer_count=1,
        )

        def run():
            qs = generate_questions(cfg)
            return qs.question.nbytes + qs.answer.nbytes + qs.a.nbytes + qs.b.nbytes, len(qs)
    elif impl == "reference":
        import reference_generate

        def run():
            x, y = reference_generate.generate_and_vectorize(digits, count)
            return x.nbytes + y.nbytes, len(x)
    else:
        raise SystemExit(f"unknown generator {impl!r}")
    baseline = peak_rss_kb()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        nbytes, rows = run()
        seconds.append(time.perf_counter() - start)
    return {
        "impl": impl,
        "digits": digits,
        "count": count,
        "rows": rows,
        "output_bytes": nbytes,
        "seconds": seconds,
        "baseline_rss_kb": baseline,
        "peak_rss_kb": peak_rss_kb(),
    }


if __name__ == "__main__":
    impl, digits, count, repeats = sys.argv[1], *map(int, sys.argv[2:5])
    print(json.dumps(main(impl, digits, count, repeats)))
