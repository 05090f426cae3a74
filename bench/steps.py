"""Whether a digit-column model (`aligned`, `columns`) takes every step of its arithmetic
right: each step network on every input the arithmetic can give it, against the exact
arithmetic. A model with no wrong step answers every question of every length right.

    python bench/steps.py --model data/model.pt

- aligned: a column of a sum or difference, all 200 inputs (digit pair x carry 0-1);
- columns: long multiplication's multiplying step on the 460 inputs it reaches and its
  adding step on all 200 (bench/products.py, which also scores products by shape).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arith_seq2seq.model import model_file

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("data/model.pt"))
    args = parser.parse_args()
    model = model_file.load(args.model).model
    if hasattr(model, "wrong_steps"):
        wrong = model.wrong_steps()
        print(
            f"{args.model}: {wrong} of the 200 column steps wrong"
            f"{' (so every sum or difference of any length is right)' if wrong == 0 else ''}"
        )
        return 0 if wrong == 0 else 1
    if hasattr(model, "step_tables"):
        from products import wrong_steps

        times, plus = wrong_steps(model)
        so = " (so every product of any length is right)" if (times, plus) == (0, 0) else ""
        print(
            f"{args.model}: {times} of the 460 multiplying steps and {plus} of the 200 adding "
            f"steps wrong{so}"
        )
        return 0 if (times, plus) == (0, 0) else 1
    print(
        f"{args.model}: a {model.config.arch} model has no step table "
        "(only aligned and columns do)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
