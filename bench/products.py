"""How a trained multiplication model does on N x M products of every shape: exact match
on random products of N- and M-digit operands (leading digit not 0), and on the carry
chains 99...9 x 99...9, each checked against Python's integers.

For a `columns` model it first checks every step the model can take: its multiplying step
on each digit pair (a, b) and row carry c that long multiplication reaches (c < b, or 0
when b is 0: a row's carry stays below its digit), and its adding step on all 200 inputs.
If none is wrong, the model answers every product of any length right.

    python bench/products.py --model data/model.pt
    python bench/products.py --model data/model.pt --shapes 4x4,10x10,100x100 --count 500

Prints a table; --json writes the figures too.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from arith_seq2seq.data.longer_sets import question_set
from arith_seq2seq.data.question_format import QuestionFormat
from arith_seq2seq.model import answering, model_file
from arith_seq2seq.model.columns import PLUS_CARRIES, TIMES_CARRIES
from arith_seq2seq.model.digit_columns import every_input

SHAPES = "3x3,4x4,5x5,10x10,10x3,3x10,20x20,100x1,100x100"


def random_operands(rng: np.random.Generator, digits: int, count: int) -> list[str]:
    first = rng.integers(1, 10, count)
    rest = rng.integers(0, 10, (count, digits - 1))
    return ["".join(map(str, [f, *r])) for f, r in zip(first, rest)]


def exact_match(trained, a: list[str], b: list[str]) -> float:
    fmt = QuestionFormat(trained.format.operation, max(map(len, a + b)), trained.format.reverse)
    qs = question_set(a, b, fmt)
    with torch.no_grad():
        ids, _ = answering.answer_questions(trained.model, qs.question, qs.answer.shape[1])
    return float((np.asarray(ids) == qs.answer).all(1).mean())


def wrong_steps(model) -> tuple[int, int] | None:
    """(wrong multiplying steps among the 460 reachable inputs, wrong adding steps of
    200) of a columns model; None for another architecture."""
    if not hasattr(model, "step_tables"):
        return None
    with torch.no_grad():
        table = model.step_tables()
    a, b, c = every_input(TIMES_CARRIES)
    s = a * b + c
    reachable = c <= (b - 1).clamp(min=0)
    times = ((table["q"] != s % 10) | (table["c"] != s // 10)) & reachable
    r, q, k = every_input(PLUS_CARRIES)
    total = r + q + k
    plus = (table["digit"] != total % 10) | (table["k"] != total // 10)
    return int(times.sum()), int(plus.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("data/model.pt"))
    parser.add_argument("--shapes", default=SHAPES, help=f"NxM, comma-separated (default {SHAPES})")
    parser.add_argument("--count", type=int, default=2000, help="random products per shape")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    trained = model_file.load(args.model)
    steps = wrong_steps(trained.model)
    if steps is not None:
        so = " (so every product is right)" if steps == (0, 0) else ""
        print(
            f"steps wrong: {steps[0]} of the 460 multiplying steps long multiplication reaches, "
            f"{steps[1]} of the 200 adding steps{so}\n"
        )
    rng = np.random.default_rng(args.seed)
    rows = []
    print("| shape | random products right | 9...9 x 9...9 | seconds |\n| --- | --- | --- | --- |")
    for shape in args.shapes.split(","):
        n, m = map(int, shape.split("x"))
        start = time.perf_counter()
        score = exact_match(
            trained, random_operands(rng, n, args.count), random_operands(rng, m, args.count)
        )
        chain = exact_match(trained, ["9" * n], ["9" * m])
        seconds = time.perf_counter() - start
        rows.append(
            {
                "shape": shape,
                "count": args.count,
                "exact_match": score,
                "chain_right": chain == 1.0,
                "seconds": seconds,
            }
        )
        right = "right" if chain == 1.0 else "wrong"
        print(
            f"| {shape} | {100 * score:.2f}% of {args.count:,} | {right} | {seconds:.1f} |",
            flush=True,
        )
    if args.json:
        args.json.write_text(
            json.dumps({"model": str(args.model), "wrong_steps": steps, "rows": rows}, indent=2)
            + "\n"
        )


if __name__ == "__main__":
    main()
