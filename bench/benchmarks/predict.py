"""predict: the model file's load, one question, a batch of questions (cli.answer_lines, as
`arith-seq2seq predict` answers them) and the whole command."""

from __future__ import annotations

import os
import statistics
import time

import numpy as np
from common import BIN, Bench, timed

from arith_seq2seq import cli
from arith_seq2seq.model import model_file


def run(b: Bench) -> dict:
    s = b.sizes
    path = b.model_path()
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
        f"model_file.load, median of {len(loads) - 1} after one; "
        f"model: {path.name} ({digits} digits)",
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
