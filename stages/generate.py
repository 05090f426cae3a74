"""Stage generate: params `data` -> one .npz of encoded questions, answers and operands."""

import argparse

from arith_seq2seq import datasets
from arith_seq2seq.config import load_params
from arith_seq2seq.entry import run
from arith_seq2seq.questions import generate_questions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True, help="the .npz file to write")
    args = parser.parse_args()

    cfg = load_params(args.params).data
    questions = generate_questions(cfg)
    datasets.save(questions, args.out)
    print(f"generate: {len(questions):,} questions with up to {cfg.digits} digits -> {args.out}")


if __name__ == "__main__":
    run(main)
