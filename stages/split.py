"""Stage split: one .npz -> disjoint train / val / test .npz files (params `split`)."""

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path

# This folder (last_good.py) and this repository's own library, whichever copy `pip install
# -e .` points at: a queued or --temp experiment runs in a copy of the repository, and
# dvc.lock records that copy's code.
sys.path[:0] = [
    str(Path(__file__).resolve().parent),
    str(Path(__file__).resolve().parents[1] / "src"),
]

# First of all, before the library: the last good outputs, which DVC deleted for this run,
# back in place (stages/last_good.py says why this cannot wait).
import last_good  # noqa: E402

last_good.start()

from arith_seq2seq.data import question_set
from arith_seq2seq.data.splitting import split_rows
from arith_seq2seq.pipeline.config import load_section
from arith_seq2seq.pipeline.files import atomic_path
from arith_seq2seq.pipeline.params import SplitConfig
from arith_seq2seq.pipeline.stage import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--questions", required=True, help="the generated .npz")
    parser.add_argument("--train", required=True)
    parser.add_argument("--val", required=True)
    parser.add_argument("--test", required=True)
    args = parser.parse_args()

    cfg = load_section(args.params, "split", SplitConfig)
    questions = question_set.load(args.questions)
    parts = split_rows(questions, cfg)
    # All three are written before any replaces its old version: a split interrupted
    # half-way must not pair a new train.npz with an old test.npz (they would overlap).
    # Each part is written straight from its rows, so memory stays about the input's size.
    with ExitStack() as outputs:
        for rows, path in zip(parts, (args.train, args.val, args.test)):
            question_set.write(questions, outputs.enter_context(atomic_path(path)), rows)
    sizes = " / ".join(f"{len(p):,}" for p in parts)
    print(f"split: train / val / test = {sizes}")


if __name__ == "__main__":
    run(main)
