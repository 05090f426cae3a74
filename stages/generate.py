"""Stage generate: params `data` -> one .npz of encoded questions, answers and operands,
and a folder of held-out sets of longer questions (one .npz per length)."""

import argparse
import sys
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
from arith_seq2seq.data.config import DataConfig
from arith_seq2seq.data.longer_sets import generate_longer
from arith_seq2seq.data.questions import generate_questions
from arith_seq2seq.pipeline.config import load_section
from arith_seq2seq.pipeline.files import atomic_dir, atomic_path
from arith_seq2seq.pipeline.stage import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True, help="the .npz file to write")
    parser.add_argument("--longer-dir", required=True, help="folder for the longer held-out sets")
    args = parser.parse_args()

    cfg = load_section(args.params, "data", DataConfig)
    questions = generate_questions(cfg)
    longer = generate_longer(cfg)
    # Both outputs are written before either replaces its old version.
    with atomic_dir(args.longer_dir) as folder, atomic_path(args.out) as tmp:
        question_set.save_longer(longer, folder)
        question_set.write(questions, tmp)
    print(
        f"generate: {len(questions):,} {cfg.operation} questions with up to {cfg.digits} digits "
        f"-> {args.out}; held-out longer sets ({cfg.longer_count:,} random questions and the carry "
        f"chains per length) with {', '.join(map(str, sorted(cfg.longer_digits))) or 'no'} digits "
        f"-> {args.longer_dir}"
    )


if __name__ == "__main__":
    run(main)
